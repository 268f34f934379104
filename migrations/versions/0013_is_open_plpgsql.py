"""``locator_is_open`` in PL/pgSQL: the same answer, a fifth of the cost per statement.

A SQL-language function that cannot be inlined (0007's has a CTE and subqueries) is
planned anew in every statement that calls it: 0.15-0.2 ms before its first row, against
about 9 us a call after. Nearest calls it twice with a service (the point's hours and
the offering's), so "open now" cost 0.2-0.4 ms of a nearest statement's 0.8 ms. PL/pgSQL
keeps its plans for the session: 10 rows cost 0.08 ms instead of 0.28 ms (measured on
the 60,000-point bench registry, bench/HISTORY.md, issue 20). Same rules as 0007, the
twin of ``locator.registry.hours.is_open``: the hours' own time zone (Bangkok by
default), closed on a public holiday when the hours say so, open within any of the
day's intervals, start included and end excluded. Checked equal to 0007's over every
distinct hours value of the bench registry and some edge cases, minute by minute over
nine days and at noon on every public holiday of the table (172,666 pairs).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLPGSQL = """
CREATE OR REPLACE FUNCTION locator_is_open(hours jsonb, at timestamptz) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    t timestamp := at AT TIME ZONE coalesce(hours->>'tz', 'Asia/Bangkok');
    day jsonb := coalesce(
        hours->'weekly'->((ARRAY['mon','tue','wed','thu','fri','sat','sun'])
                          [extract(isodow FROM t)::int]),
        '[]'::jsonb);
BEGIN
    IF hours->>'public_holidays' = 'closed'
       AND EXISTS (SELECT 1 FROM public.public_holiday h WHERE h.day = t::date) THEN
        RETURN false;
    END IF;
    FOR i IN 0 .. jsonb_array_length(day) - 1 LOOP
        IF t::time >= (day->i->>0)::time AND t::time < (day->i->>1)::time THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$
"""

# 0007's, as it was
_SQL = """
CREATE OR REPLACE FUNCTION locator_is_open(hours jsonb, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH local AS (
        SELECT at AT TIME ZONE coalesce(hours->>'tz', 'Asia/Bangkok') AS t
    )
    SELECT CASE
        WHEN hours->>'public_holidays' = 'closed' AND EXISTS (
            SELECT 1 FROM public.public_holiday h, local WHERE h.day = local.t::date)
        THEN false
        ELSE (
    SELECT coalesce(bool_or(
               local.t::time >= (iv->>0)::time AND local.t::time < (iv->>1)::time),
           false)
    FROM local, jsonb_array_elements(coalesce(
        hours->'weekly'->((ARRAY['mon','tue','wed','thu','fri','sat','sun'])
                          [extract(isodow FROM local.t)::int]),
        '[]'::jsonb)) AS iv
)
    END
$$
"""


def upgrade() -> None:
    op.execute(_PLPGSQL)


def downgrade() -> None:
    op.execute(_SQL)
