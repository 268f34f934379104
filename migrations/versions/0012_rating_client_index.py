"""The ratings of one client over a day, whatever the point: an index for the per-client
limit (a client rated 60 points in a row under the per-point limit alone).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_rating_client_time", "rating", ["client_hash", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_rating_client_time", table_name="rating")
