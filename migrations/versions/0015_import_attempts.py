"""The bulk import attempts of each account, for the per-account limit (issue 20: one
account posting hostile files back to back kept a core busy; a dry run or a refused file
leaves nothing else in the database to count).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from locator.db import roles

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_attempt",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("account.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "attempted_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_import_attempt_account_time", "import_attempt", ["account_id", "attempted_at"]
    )
    roles.grant(op.get_bind())


def downgrade() -> None:
    op.drop_table("import_attempt")
