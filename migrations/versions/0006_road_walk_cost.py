"""Walking on the road graph: ``road_edge.walk_cost``.

Seconds on foot at the speeds of OSRM's foot profile, the same both ways, -1 where
walking is not allowed (a motorway). ``locator roads import`` now loads every way usable
by car or on foot: edges only walkable (footways, paths, steps, pedestrian streets) have
``cost`` and ``reverse_cost`` -1. Rows imported before this revision get -1 (no walking
known): ``locator roads import`` again fills it in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "road_edge",
        sa.Column("walk_cost", sa.Double(), server_default=sa.text("-1"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("road_edge", "walk_cost")
