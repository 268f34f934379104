"""Public holidays: government offices close on them, and "open now" knows it.

``public_holiday`` holds Thailand's public and government holidays (from the
``holidays`` package, ``locator.registry.public_holidays``), filled here for 2020 to five years
ahead and refreshed by ``locator load reference``. ``locator_is_open`` answers false on
those days for hours marked ``"public_holidays": "closed"`` (OSM's ``PH off``), the
twin of ``locator.registry.hours.is_open`` again. Points whose hours note said they close on
public holidays (what the loader wrote so far) get the mark.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from locator.db import roles
from locator.registry import public_holidays

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the weekly test of 0002, unchanged
_WEEKLY = """
    SELECT coalesce(bool_or(
               local.t::time >= (iv->>0)::time AND local.t::time < (iv->>1)::time),
           false)
    FROM local, jsonb_array_elements(coalesce(
        hours->'weekly'->((ARRAY['mon','tue','wed','thu','fri','sat','sun'])
                          [extract(isodow FROM local.t)::int]),
        '[]'::jsonb)) AS iv
"""

_FUNCTION = """
CREATE OR REPLACE FUNCTION locator_is_open(hours jsonb, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH local AS (
        SELECT at AT TIME ZONE coalesce(hours->>'tz', 'Asia/Bangkok') AS t
    )
    {body}
$$
"""

_WITH_HOLIDAYS = f"""
    SELECT CASE
        WHEN hours->>'public_holidays' = 'closed' AND EXISTS (
            SELECT 1 FROM public.public_holiday h, local WHERE h.day = local.t::date)
        THEN false
        ELSE ({_WEEKLY})
    END
"""


def upgrade() -> None:
    op.create_table(
        "public_holiday",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
    )
    public_holidays.refresh(op.get_bind())
    op.execute(_FUNCTION.format(body=_WITH_HOLIDAYS))
    op.execute(
        """
        UPDATE service_point
        SET opening_hours = opening_hours || '{"public_holidays": "closed"}'::jsonb
        WHERE opening_hours->>'note_en' = 'Closed on public holidays'
           OR opening_hours->>'note_en' LIKE 'Outpatient hours%'
        """
    )
    for role in roles.ROLES:
        op.execute(f"GRANT SELECT ON public_holiday TO {role}")


def downgrade() -> None:
    op.execute(_FUNCTION.format(body=_WEEKLY))
    op.execute("UPDATE service_point SET opening_hours = opening_hours - 'public_holidays'")
    op.drop_table("public_holiday")
