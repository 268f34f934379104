"""Initial schema: extensions, registry, catalogue, accounts, audit, ratings, roads.

Spatial indexes go through GeoAlchemy2's alembic helpers so they are created and
dropped with their tables. The offering table carries a copy of its point's position,
kept in step by the two triggers below, so that the composite GiST index
(service_code, geog) answers "nearest point offering X" alone.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 15:32:53.104613
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography, Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSIONS = ("postgis", "btree_gist", "pg_trgm")

GEOG_SYNC_UP = """
CREATE FUNCTION offering_copy_point_geog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT sp.geog INTO NEW.geog FROM service_point sp WHERE sp.id = NEW.point_id;
    RETURN NEW;
END $$;

CREATE TRIGGER offering_copy_point_geog
    BEFORE INSERT OR UPDATE OF point_id, geog ON offering
    FOR EACH ROW EXECUTE FUNCTION offering_copy_point_geog();

CREATE FUNCTION service_point_propagate_geog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE offering SET geog = NEW.geog WHERE point_id = NEW.id;
    RETURN NEW;
END $$;

CREATE TRIGGER service_point_propagate_geog
    AFTER UPDATE OF geog ON service_point
    FOR EACH ROW WHEN (NEW.geog::geometry IS DISTINCT FROM OLD.geog::geometry)
    EXECUTE FUNCTION service_point_propagate_geog();
"""

GEOG_SYNC_DOWN = """
DROP TRIGGER IF EXISTS service_point_propagate_geog ON service_point;
DROP FUNCTION IF EXISTS service_point_propagate_geog();
DROP TRIGGER IF EXISTS offering_copy_point_geog ON offering;
DROP FUNCTION IF EXISTS offering_copy_point_geog();
"""


def upgrade() -> None:
    for ext in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    # pgRouting serves analysis only; a managed server without it still runs the API.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting')"
        " THEN CREATE EXTENSION IF NOT EXISTS pgrouting; END IF; END $$"
    )
    op.create_geospatial_table(
        "admin_area",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("postcodes", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("population_year", sa.SmallInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "level IN ('province', 'district', 'tambon')", name="admin_area_level_check"
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["admin_area.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_geospatial_index(
        "idx_admin_area_geom",
        "admin_area",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_admin_area_level", "admin_area", ["level"], unique=False)
    op.create_index("ix_admin_area_parent", "admin_area", ["parent_code"], unique=False)
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("province_code", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["agency.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_agency_parent_id"), "agency", ["parent_id"], unique=False)
    op.create_table(
        "document_type",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column(
            "issued_by_government", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_geospatial_table(
        "road_vertex",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("osm_node_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_road_vertex_geom",
        "road_vertex",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "service",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("agency_code", sa.Text(), nullable=True),
        sa.Column("description_th", sa.Text(), nullable=True),
        sa.Column("description_en", sa.Text(), nullable=True),
        sa.Column(
            "steps",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("processing_minutes", sa.Integer(), nullable=True),
        sa.Column("fee_thb", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("fee_note_th", sa.Text(), nullable=True),
        sa.Column("fee_note_en", sa.Text(), nullable=True),
        sa.Column("link", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_service_category"), "service", ["category"], unique=False)
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('agency_editor', 'agency_admin', 'analyst', 'admin')",
            name="account_role_check",
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_geospatial_table(
        "road_edge",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("osm_way_id", sa.BigInteger(), nullable=True),
        sa.Column("length_m", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("reverse_cost", sa.Double(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source"],
            ["road_vertex.id"],
        ),
        sa.ForeignKeyConstraint(
            ["target"],
            ["road_vertex.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_road_edge_geom",
        "road_edge",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_road_edge_source"), "road_edge", ["source"], unique=False)
    op.create_index(op.f("ix_road_edge_target"), "road_edge", ["target"], unique=False)
    op.create_table(
        "service_document",
        sa.Column("service_code", sa.Text(), nullable=False),
        sa.Column("document_code", sa.Text(), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("original", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_code"],
            ["document_type.code"],
        ),
        sa.ForeignKeyConstraint(["service_code"], ["service.code"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_code", "document_code"),
    )
    op.create_geospatial_table(
        "service_point",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column(
            "geog",
            Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("address_th", sa.Text(), nullable=True),
        sa.Column("address_en", sa.Text(), nullable=True),
        sa.Column("tambon_code", sa.Text(), nullable=True),
        sa.Column("postcode", sa.Text(), nullable=True),
        sa.Column("phones", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column(
            "opening_hours",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("wheelchair", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("priority_lane", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("gecc", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'"), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_ref", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('pinned', 'imported', 'generated')", name="service_point_source_check"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'temporarily_closed', 'closed')",
            name="service_point_status_check",
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_service_point_geog",
        "service_point",
        ["geog"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_service_point_agency_id"), "service_point", ["agency_id"], unique=False
    )
    op.create_index(op.f("ix_service_point_kind"), "service_point", ["kind"], unique=False)
    op.create_index(
        "ix_service_point_name_en_trgm",
        "service_point",
        ["name_en"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_en": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_service_point_name_th_trgm",
        "service_point",
        ["name_th"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_th": "gin_trgm_ops"},
    )
    op.create_index(
        op.f("ix_service_point_tambon_code"), "service_point", ["tambon_code"], unique=False
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_table(
        "change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("old_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_change_record", "change", ["table_name", "record_id"], unique=False)
    op.create_geospatial_table(
        "offering",
        sa.Column("point_id", sa.BigInteger(), nullable=False),
        sa.Column("service_code", sa.Text(), nullable=False),
        sa.Column(
            "copies_required", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("no_copy_since", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "geog",
            Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["point_id"], ["service_point.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["service.code"],
        ),
        sa.PrimaryKeyConstraint("point_id", "service_code"),
    )
    op.create_index(
        "ix_offering_service_geog",
        "offering",
        ["service_code", "geog"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "rating",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("point_id", sa.BigInteger(), nullable=False),
        sa.Column("service_code", sa.Text(), nullable=True),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("client_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("char_length(comment) <= 2000", name="rating_comment_length_check"),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="rating_score_check"),
        sa.ForeignKeyConstraint(["point_id"], ["service_point.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["service.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_rating_point_client_time",
        "rating",
        ["point_id", "client_hash", "created_at"],
        unique=False,
    )
    op.execute(GEOG_SYNC_UP)


def downgrade() -> None:
    op.execute(GEOG_SYNC_DOWN)
    op.drop_index("ix_rating_point_client_time", table_name="rating")
    op.drop_table("rating")
    op.drop_index("ix_offering_service_geog", table_name="offering", postgresql_using="gist")
    op.drop_geospatial_table("offering")
    op.drop_index("ix_change_record", table_name="change")
    op.drop_table("change")
    op.drop_table("api_key")
    op.drop_index(op.f("ix_service_point_tambon_code"), table_name="service_point")
    op.drop_index(
        "ix_service_point_name_th_trgm",
        table_name="service_point",
        postgresql_using="gin",
        postgresql_ops={"name_th": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_service_point_name_en_trgm",
        table_name="service_point",
        postgresql_using="gin",
        postgresql_ops={"name_en": "gin_trgm_ops"},
    )
    op.drop_index(op.f("ix_service_point_kind"), table_name="service_point")
    op.drop_index(op.f("ix_service_point_agency_id"), table_name="service_point")
    op.drop_geospatial_index(
        "idx_service_point_geog",
        table_name="service_point",
        postgresql_using="gist",
        column_name="geog",
    )
    op.drop_geospatial_table("service_point")
    op.drop_table("service_document")
    op.drop_index(op.f("ix_road_edge_target"), table_name="road_edge")
    op.drop_index(op.f("ix_road_edge_source"), table_name="road_edge")
    op.drop_geospatial_index(
        "idx_road_edge_geom", table_name="road_edge", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("road_edge")
    op.drop_table("account")
    op.drop_index(op.f("ix_service_category"), table_name="service")
    op.drop_table("service")
    op.drop_geospatial_index(
        "idx_road_vertex_geom",
        table_name="road_vertex",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("road_vertex")
    op.drop_table("document_type")
    op.drop_index(op.f("ix_agency_parent_id"), table_name="agency")
    op.drop_table("agency")
    op.drop_index("ix_admin_area_parent", table_name="admin_area")
    op.drop_index("ix_admin_area_level", table_name="admin_area")
    op.drop_geospatial_index(
        "idx_admin_area_geom", table_name="admin_area", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("admin_area")
    # The extensions stay: other databases objects may use them, and they hold no data.
