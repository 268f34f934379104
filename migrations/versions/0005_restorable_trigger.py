"""A trigger condition that a plain pg_restore can re-create.

pg_restore runs with an empty search_path, where ``NEW.geog::geometry IS DISTINCT FROM
OLD.geog::geometry`` finds no ``=`` operator for PostGIS' geometry, so restoring a dump
failed on this trigger. Comparing the points' WKB bytes means the same here (a change
of position; geography is always WGS84) and uses only built-in operators; pg_dump writes
the function schema-qualified.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = """
DROP TRIGGER service_point_propagate_geog ON service_point;
CREATE TRIGGER service_point_propagate_geog
    AFTER UPDATE OF geog ON service_point
    FOR EACH ROW WHEN ({condition})
    EXECUTE FUNCTION service_point_propagate_geog();
"""


def upgrade() -> None:
    op.execute(
        TRIGGER.format(condition="ST_AsBinary(NEW.geog) IS DISTINCT FROM ST_AsBinary(OLD.geog)")
    )


def downgrade() -> None:
    op.execute(TRIGGER.format(condition="NEW.geog::geometry IS DISTINCT FROM OLD.geog::geometry"))
