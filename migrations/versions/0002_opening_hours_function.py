"""Opening hours in SQL: locator_is_open(hours, at), the twin of locator.registry.hours.is_open.

"Open now" is a filter of the nearest search, so it has to run inside the query (next to
the KNN index scan), not after it in Python. A test checks the two agree.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION locator_is_open(hours jsonb, at timestamptz) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            WITH local AS (
                SELECT at AT TIME ZONE coalesce(hours->>'tz', 'Asia/Bangkok') AS t
            )
            SELECT coalesce(bool_or(
                       local.t::time >= (iv->>0)::time AND local.t::time < (iv->>1)::time),
                   false)
            FROM local, jsonb_array_elements(coalesce(
                hours->'weekly'->((ARRAY['mon','tue','wed','thu','fri','sat','sun'])
                                  [extract(isodow FROM local.t)::int]),
                '[]'::jsonb)) AS iv
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS locator_is_open(jsonb, timestamptz)")
