"""Hours per service: ``offering.opening_hours``, where a service keeps other hours than
its point.

A hospital is open day and night (its emergency room), while its outpatient services
keep office hours: with one set of hours per point, "open now" at 22:00 found none of
them, or, had the point been marked 24 hours, offered vaccination at midnight. NULL is
the point's hours; ``open_now`` with a ``service`` judges
``coalesce(o.opening_hours, p.opening_hours)``. The demo registry fills it when it is
loaded again (``locator load registry``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("offering", sa.Column("opening_hours", JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("offering", "opening_hours")
