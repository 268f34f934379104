"""Which of a point's fields its agency provided: ``service_point.provided``.

The demo registry's real offices have real names and pins but made-up phones, hours
and No-Copy statuses, and the provenance says so. Once an agency imports its hours
(``locator hours import``, and the agencies' writes to come), those hours are its own:
the field is listed here and the provenance calls it real. Empty for every loaded point.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "service_point",
        sa.Column("provided", ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("service_point", "provided")
