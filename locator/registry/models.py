"""ORM tables, after Open Referral HSDS 3.0 plus what HSDS lacks (No-Copy, ratings, roads).

The migrations in ``migrations/`` are the source of truth for the schema; these classes
mirror them for queries, and a test checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from locator.registry.vocabulary import POINT_SOURCES, QA_FLAGS

AREA_LEVELS = ("province", "district", "tambon")
POINT_STATUSES = ("active", "temporarily_closed", "closed")
# editor: pins and edits its agency's points; agency_admin: also its agency's accounts
# and bulk imports; platform_admin: every agency, and the review queue
ROLES = ("editor", "agency_admin", "platform_admin")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB, list[Any]: JSONB}


class Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AdminArea(Base):
    """Province, district or tambon, keyed by its DOPA code (2, 4 or 6 digits)."""

    __tablename__ = "admin_area"
    __table_args__ = (
        CheckConstraint(_in("level", AREA_LEVELS), name="admin_area_level_check"),
        Index("ix_admin_area_level", "level"),
        Index("ix_admin_area_parent", "parent_code"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    level: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    postcodes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    population_year: Mapped[int | None] = mapped_column(SmallInteger)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True)


class Agency(Base, Timestamps):
    """HSDS organization: ministry -> department -> provincial / district office."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), index=True)
    level: Mapped[str] = mapped_column(Text)
    province_code: Mapped[str | None] = mapped_column(Text)

    parent: Mapped[Agency | None] = relationship(remote_side=[id])


class DocumentType(Base):
    __tablename__ = "document_type"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    issued_by_government: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Service(Base):
    """A Citizen's Manual procedure."""

    __tablename__ = "service"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text, index=True)
    agency_code: Mapped[str | None] = mapped_column(Text)
    description_th: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    processing_minutes: Mapped[int | None] = mapped_column(Integer)
    fee_thb: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    fee_note_th: Mapped[str | None] = mapped_column(Text)
    fee_note_en: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)

    documents: Mapped[list[ServiceDocument]] = relationship(
        back_populates="service", order_by="ServiceDocument.position"
    )


class ServiceDocument(Base):
    __tablename__ = "service_document"

    service_code: Mapped[str] = mapped_column(
        ForeignKey("service.code", ondelete="CASCADE"), primary_key=True
    )
    document_code: Mapped[str] = mapped_column(ForeignKey("document_type.code"), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    original: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    note: Mapped[str | None] = mapped_column(Text)

    service: Mapped[Service] = relationship(back_populates="documents")
    document: Mapped[DocumentType] = relationship()


class ServicePoint(Base, Timestamps):
    """HSDS location: one pinned office."""

    __tablename__ = "service_point"
    __table_args__ = (
        CheckConstraint(_in("status", POINT_STATUSES), name="service_point_status_check"),
        CheckConstraint(_in("source", POINT_SOURCES), name="service_point_source_check"),
        # Thai names without tone marks, for name search (migration 0014)
        Index(
            "ix_service_point_name_th_fold_trgm",
            text("locator_fold_th(name_th) gin_trgm_ops"),
            postgresql_using="gin",
        ),
        Index(
            "ix_service_point_name_en_trgm",
            "name_en",
            postgresql_using="gin",
            postgresql_ops={"name_en": "gin_trgm_ops"},
        ),
        # English words, for word-prefix search (migration 0004; locator.query.name_search)
        Index(
            "ix_service_point_name_en_words",
            text("to_tsvector('simple'::regconfig, name_en)"),
            postgresql_using="gin",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    kind: Mapped[str] = mapped_column(Text, index=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    geog = mapped_column(Geography("POINT", srid=4326, spatial_index=True), nullable=False)
    address_th: Mapped[str | None] = mapped_column(Text)
    address_en: Mapped[str | None] = mapped_column(Text)
    tambon_code: Mapped[str | None] = mapped_column(Text, index=True)
    postcode: Mapped[str | None] = mapped_column(Text)
    phones: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    wheelchair: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    priority_lane: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    gecc: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'"))
    source: Mapped[str] = mapped_column(Text)
    external_ref: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # fields the point's agency provided (migration 0010): their provenance is real
    provided: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))

    agency: Mapped[Agency] = relationship()
    offerings: Mapped[list[Offering]] = relationship(back_populates="point")


class Offering(Base):
    """HSDS service_at_location, with the No-Copy status of that office for that service.

    ``geog`` is a copy of the point's position (kept in step by a trigger) so that the
    composite GiST index (service_code, geog) answers "nearest point offering X" alone.
    """

    __tablename__ = "offering"
    __table_args__ = (
        Index(
            "ix_offering_service_geog",
            "service_code",
            "geog",
            postgresql_using="gist",
        ),
    )

    point_id: Mapped[int] = mapped_column(
        ForeignKey("service_point.id", ondelete="CASCADE"), primary_key=True
    )
    service_code: Mapped[str] = mapped_column(ForeignKey("service.code"), primary_key=True)
    copies_required: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    no_copy_since: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """This service's hours where they differ from the point's (a hospital's outpatient
    services; its emergency room keeps the point's 24 hours); NULL: the point's."""
    geog = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=False)

    point: Mapped[ServicePoint] = relationship(back_populates="offerings")
    service: Mapped[Service] = relationship()


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="account_role_check"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    role: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ApiKey(Base):
    """Only a SHA-256 of the key is kept; the prefix finds the row without a scan."""

    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_account", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(Text, unique=True)
    key_hash: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Change(Base):
    """HSDS metadata: who changed which field of which record, old -> new, when."""

    __tablename__ = "change"
    __table_args__ = (
        Index("ix_change_record", "table_name", "record_id"),
        Index("ix_change_changed_at", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text)
    record_id: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(Text)
    old_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ImportAttempt(Base):
    """A bulk import asked for by an account, refused or not: what the per-account limit
    counts (``locator.agencies.bulk.attempts``), in the database so that it holds across
    server processes and machines. Rows older than the window are deleted as it counts."""

    __tablename__ = "import_attempt"
    __table_args__ = (Index("ix_import_attempt_account_time", "account_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    attempted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Rating(Base):
    __tablename__ = "rating"
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="rating_score_check"),
        CheckConstraint("char_length(comment) <= 2000", name="rating_comment_length_check"),
        Index("ix_rating_point_client_time", "point_id", "client_hash", "created_at"),
        Index("ix_rating_client_time", "client_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    service_code: Mapped[str | None] = mapped_column(ForeignKey("service.code"))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    client_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class PublicHoliday(Base):
    """A day government offices close (``locator.registry.public_holidays``)."""

    __tablename__ = "public_holiday"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    name_en: Mapped[str] = mapped_column(Text)
    name_th: Mapped[str] = mapped_column(Text)


class QaFlag(Base):
    """One finding of the pin check (``locator.registry.pincheck``) on one point: the point needs
    review while any of its flags is unresolved."""

    __tablename__ = "qa_flag"
    __table_args__ = (
        CheckConstraint(_in("flag", QA_FLAGS), name="qa_flag_flag_check"),
        Index("ix_qa_flag_point", "point_id"),
        Index("ix_qa_flag_flag", "flag"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    flag: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    measured: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    other_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_point.id", ondelete="CASCADE")
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RoadVertex(Base):
    __tablename__ = "road_vertex"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_node_id: Mapped[int | None] = mapped_column(BigInteger)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)


class RoadEdge(Base):
    """pgRouting-shaped edges: cost / reverse_cost (by car) and walk_cost (on foot, both
    ways) in seconds, negative = not allowed."""

    __tablename__ = "road_edge"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[int] = mapped_column(ForeignKey("road_vertex.id"), index=True)
    target: Mapped[int] = mapped_column(ForeignKey("road_vertex.id"), index=True)
    osm_way_id: Mapped[int | None] = mapped_column(BigInteger)
    length_m: Mapped[float] = mapped_column(Double)
    cost: Mapped[float] = mapped_column(Double)
    reverse_cost: Mapped[float] = mapped_column(Double)
    walk_cost: Mapped[float] = mapped_column(Double, server_default=text("-1"))
    geom = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=True), nullable=False)


__all__ = [
    "AREA_LEVELS",
    "POINT_STATUSES",
    "ROLES",
    "Account",
    "AdminArea",
    "Agency",
    "ApiKey",
    "Base",
    "Change",
    "DocumentType",
    "Offering",
    "QaFlag",
    "Rating",
    "RoadEdge",
    "RoadVertex",
    "Service",
    "ServiceDocument",
    "ServicePoint",
]
