"""The schema comes from Alembic, spatial indexes included, and goes away cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, inspect, text

from locator.db import migrate
from locator.registry.models import Base

SPATIAL_INDEXES = {
    ("admin_area", "idx_admin_area_geom"),
    ("service_point", "idx_service_point_geog"),
    ("offering", "ix_offering_service_geog"),
    ("road_vertex", "idx_road_vertex_geom"),
    ("road_edge", "idx_road_edge_geom"),
}


def _gist_indexes(conn) -> set[tuple[str, str]]:
    rows = conn.execute(
        text(
            "SELECT tablename, indexname FROM pg_indexes "
            "WHERE schemaname = 'public' AND indexdef ILIKE '%USING gist%'"
        )
    ).all()
    return {(t, i) for t, i in rows}


def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
        assert _gist_indexes(conn) >= SPATIAL_INDEXES
        composite = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_offering_service_geog'")
        ).scalar_one()
        assert "service_code" in composite and "geog" in composite
        extensions = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
        assert {"postgis", "btree_gist", "pg_trgm", "pgrouting"} <= extensions

    migrate.downgrade(engine, "base")
    with engine.connect() as conn:
        assert migrate.current_revision(conn) is None
        assert _gist_indexes(conn) == set()
        assert set(inspect(conn).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}

    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert _gist_indexes(conn) >= SPATIAL_INDEXES
    engine.dispose()


def test_models_match_migrations(engine) -> None:
    """The ORM mirrors the migrated schema: autogenerate finds nothing to do."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": alembic_helpers.include_object,
                "compare_type": True,
                "target_metadata": Base.metadata,
            },
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_offering_keeps_a_copy_of_the_point_position(connection) -> None:
    """Moving a pin moves its offerings in the composite index too."""
    connection.execute(
        text(
            "INSERT INTO agency (id, code, name_th, name_en, level) "
            "VALUES (-1, 't', 'ท', 't', 'ministry');"
            "INSERT INTO service (code, name_th, name_en, category) "
            "VALUES ('svc_t', 'บริการ', 'svc', 'test');"
            "INSERT INTO service_point (id, agency_id, kind, name_th, name_en, geog, source) "
            "VALUES (-1, -1, 'k', 'จุด', 'p', 'SRID=4326;POINT(100.5 13.75)', 'pinned');"
            "INSERT INTO offering (point_id, service_code) VALUES (-1, 'svc_t');"
        )
    )
    where = "SELECT ST_AsText(geog) FROM offering WHERE point_id = -1"
    assert connection.execute(text(where)).scalar_one() == "POINT(100.5 13.75)"
    connection.execute(
        text("UPDATE service_point SET geog = 'SRID=4326;POINT(99 18)' WHERE id = -1")
    )
    assert connection.execute(text(where)).scalar_one() == "POINT(99 18)"
