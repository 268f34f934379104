"""Request and response models of the API (the OpenAPI schema is generated from these).

Input models are separate from output models: a client can only send what an input
model names (no mass assignment), and outputs never leak internal columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from locator.registry.fields import CODE, PHONE_PATTERN


class _In(BaseModel):
    """A request body. PostgreSQL cannot store a NUL character in text: one anywhere in a
    body is a 422 naming the field, never a 500 or a silently shortened value."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("contains a NUL character (\\u0000): remove it")
        return value


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AgencyRef(_Out):
    code: str
    name_th: str
    name_en: str


class OfferingMatch(_Out):
    service: str
    copies_required: list[str] = Field(
        description="document codes this office still demands as photocopies"
    )
    no_copy: bool = Field(description="true when no photocopy is needed for this service")
    open_now: bool = Field(
        description="this service open at `at` (or now): by its own hours where it has them "
        "(a hospital's outpatient services), else the point's"
    )


class PointSummary(_Out):
    id: int
    name_th: str
    name_en: str
    kind: str
    status: str
    source: str = Field(
        description="pinned (a real office at its real position), imported, or generated "
        "(a demo point made up where no public location exists: not a fact)"
    )
    agency: AgencyRef
    lat: float
    lon: float
    address_th: str | None
    address_en: str | None
    open_now: bool
    wheelchair: bool
    priority_lane: bool
    gecc: bool
    offering: OfferingMatch | None = Field(
        default=None, description="the offering of the requested service, if one was asked"
    )


class Travel(_Out):
    method: Literal["osrm", "straight_line"] = Field(
        description="`osrm`: the trip on the imported roads; `straight_line`: an estimate at "
        "an assumed speed (no imported network covers the trip), ranked after routed points"
    )
    duration_s: float
    distance_m: float = Field(description="along the roads (osrm) or in a straight line")
    snap_distance_m: float | None = Field(description="metres from the point to its road")
    arrives_at: dt.datetime = Field(description="departure (`at` or now) plus the duration")
    open_on_arrival: bool = Field(description="open at `arrives_at` (holidays included)")


class NearbyPoint(PointSummary):
    distance_m: float = Field(description="geodesic distance on the WGS84 spheroid, metres")
    bearing_deg: float | None = Field(description="initial bearing from the origin, degrees")
    travel: Travel | None = Field(default=None, description="only with `rank=travel_time`")


class Origin(_Out):
    lat: float
    lon: float


class Ranking(_Out):
    by: Literal["distance", "travel_time"]
    mode: Literal["drive", "walk"] | None = None
    method: Literal["osrm", "straight_line"] | None = Field(
        default=None, description="travel_time: how the durations were found"
    )
    candidates: int | None = Field(
        default=None, description="travel_time: how many of the nearest were re-ranked"
    )
    departs_at: dt.datetime | None = None
    estimate_reason: str | None = Field(
        default=None, description="why the durations are straight-line estimates, if they are"
    )
    estimate_code: (
        Literal[
            "no_network", "outside_network", "far_from_road", "engine_unavailable", "engine_error"
        ]
        | None
    ) = Field(default=None, description="the same reason as a code, for a page's own words")
    origin_snap_distance_m: float | None = Field(
        default=None, description="outside_network, far_from_road: metres to the nearest road"
    )
    note: str | None = None


class NearestResponse(_Out):
    origin: Origin
    count: int
    total: int | None = Field(default=None, description="within-radius pages: every match")
    next_offset: int | None = None
    ranking: Ranking
    results: list[NearbyPoint]


class SearchHit(PointSummary):
    distance_m: float | None = None
    bearing_deg: float | None = None


class PlaceRef(_Out):
    code: str = Field(description="DOPA code of the province, district or tambon")
    level: str
    name_th: str
    name_en: str
    score: float = Field(description="how well the query matched it, 0-100")
    how: str = Field(
        description="exact, phonetic (sounds the same), fuzzy (a few edits away), or "
        "in_query (the place is part of a longer query)"
    )


class SearchResponse(_Out):
    q: str
    count: int
    truncated: bool = Field(
        description="more points matched than a search ranks: these are the best of the "
        "first matches found; add a word, a filter or lat/lon to narrow it"
    )
    places: list[PlaceRef] = Field(
        default_factory=list,
        description="the places the query names, when it names one (several when a name "
        "is shared: Bang Rak in Bangkok and in Trang); the results lie in them",
    )
    results: list[SearchHit]


class DocumentOut(_Out):
    code: str
    name_th: str
    name_en: str
    original: bool | None = None
    note: str | None = None
    copy_required: bool | None = None
    issued_by_government: bool | None = None


class Step(_Out):
    th: str
    en: str
    minutes: int | None = None


class PointService(_Out):
    code: str
    name_th: str
    name_en: str
    category: str
    steps: list[Step]
    processing_minutes: int | None
    fee_thb: float | None
    fee_note_th: str | None
    fee_note_en: str | None
    link: str | None
    copies_required: list[str]
    no_copy: bool
    no_copy_since: dt.date | None
    notes: str | None
    opening_hours: dict[str, Any] | None = Field(
        description="this service's own hours where they differ from the point's (a "
        "hospital's outpatient services); null: the point's"
    )
    opening_hours_osm: str | None = Field(description="the same in OSM's opening_hours syntax")
    open_now: bool = Field(description="this service open at `at` (or now)")
    documents: list[DocumentOut]


class RatingBrief(_Out):
    score: int
    comment: str | None
    service: str | None
    created_at: dt.datetime


class RatingSummary(_Out):
    count: int
    average: float | None
    by_score: dict[str, int]
    recent: list[RatingBrief]


class Closure(_Out):
    date: dt.date
    name_th: str
    name_en: str


class Provenance(_Out):
    """Where each part of the point comes from: `real` (the public source as it is),
    `derived` (composed by rule from real reference data), `synthetic` (made up for the
    demo: not a fact)."""

    location: Literal["real", "derived", "synthetic"]
    name: Literal["real", "derived", "synthetic"]
    address: Literal["real", "derived", "synthetic"]
    phones: Literal["real", "derived", "synthetic"]
    hours: Literal["real", "derived", "synthetic"]
    services: Literal["real", "derived", "synthetic"]
    no_copy: Literal["real", "derived", "synthetic"]


class PointDetail(PointSummary):
    version: int
    postcode: str | None
    tambon_code: str | None
    phones: list[str]
    opening_hours: dict[str, Any]
    opening_hours_osm: str = Field(
        description="the same hours in OpenStreetMap's opening_hours syntax, "
        "e.g. `Mo-Fr 08:30-16:30; PH off`"
    )
    provenance: Provenance
    next_closure: Closure | None = Field(
        description="the next public holiday the point closes for (Thai public and "
        "government holidays, substitution days included)"
    )
    source: str
    updated_at: dt.datetime
    services: list[PointService]
    rating: RatingSummary


class ServiceSummary(_Out):
    code: str
    name_th: str
    name_en: str
    category: str
    agency: str | None
    processing_minutes: int | None
    fee_thb: float | None
    fee_note_th: str | None
    fee_note_en: str | None
    points: int = Field(description="service points offering it")
    no_copy_points: int = Field(description="of which need no photocopies for it")


class ServiceList(_Out):
    count: int
    services: list[ServiceSummary]


class ServiceDetail(ServiceSummary):
    description_th: str | None
    description_en: str | None
    steps: list[Step]
    link: str | None
    documents: list[DocumentOut]


class RatingCreate(_In):
    # strict: `true` is no score, "4" is no number
    model_config = ConfigDict(extra="forbid", strict=True)

    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    comment: str | None  # bounded by the settings: locator.api.queries.request_models
    service: str | None = Field(
        default=None, pattern=CODE, max_length=64, description="the service used, a catalogue code"
    )


class RatingCreated(_Out):
    id: int
    point_id: int
    service: str | None
    score: int
    comment: str | None
    created_at: dt.datetime
    summary: RatingSummary


class LineString(_Out):
    type: Literal["LineString"]
    coordinates: list[list[float]] = Field(description="[longitude, latitude] pairs")


class RouteEstimate(_Out):
    reason: str = Field(description="why there is no route on roads")
    assumed_speed_kmh: float
    note: str


class SnapDistances(_Out):
    from_: float = Field(alias="from", description="metres from the origin to its road")
    to: float = Field(description="metres from the destination to its road")


class SnappedEnds(_Out):
    from_: list[float] = Field(
        alias="from", description="[longitude, latitude] where the origin joins its road"
    )
    to: list[float] = Field(description="[longitude, latitude] where the destination joins it")


class RouteStep(_Out):
    instruction: str = Field(description="OSRM's maneuver type and modifier, e.g. 'turn left'")
    road: str
    distance_m: float
    duration_s: float
    location: list[float] | None = Field(description="[longitude, latitude] of the maneuver")


class RouteResponse(_Out):
    method: Literal["osrm", "straight_line"] = Field(
        description="`osrm`: on real roads; `straight_line`: an estimate where no imported "
        "road network covers the place (see `estimate`)"
    )
    mode: Literal["drive", "walk"]
    distance_m: float
    duration_s: float
    geometry: LineString
    snap_distance_m: SnapDistances
    snapped: SnappedEnds = Field(
        description="the ends as routed: on the road (`osrm`), the ends themselves "
        "(`straight_line`)"
    )
    steps: list[RouteStep] = Field(description="turn by turn, when `steps=true`")
    estimate: RouteEstimate | None = Field(
        default=None, description="only for `straight_line`: how it was estimated"
    )
    destination_point_id: int | None = Field(
        default=None, description="the service point the route leads to, when `to` named one"
    )


class ProgressCounts(_Out):
    target: int = Field(description="points that should be pinned: every one not closed")
    pinned: int = Field(
        description="of them, those whose location is real: source pinned or imported, or "
        "a location the agency provided"
    )
    validated: int = Field(
        description="of the pinned, those the pin check has no unresolved finding against"
    )
    pinned_share: float | None = Field(description="pinned / target (null: no target)")
    validated_share: float | None = Field(description="validated / target (null: no target)")


class ProvinceProgress(ProgressCounts):
    code: str | None = Field(description="the province's DOPA code (of the address's tambon)")
    name_en: str | None
    name_th: str | None


class AgencyProgress(_Out):
    agency: AgencyRef
    level: str = Field(description="ministry, department, provincial_office, local_government")
    total: ProgressCounts = Field(description="the agency with every agency below it")
    by_province: list[ProvinceProgress] = Field(
        description="the provinces where it has points, by code"
    )


class Polygon(_Out):
    type: Literal["Polygon"]
    coordinates: list[list[list[float]]] = Field(
        description="the outer ring (counter-clockwise), then any holes (unreached water or "
        "land the area rings round), each [longitude, latitude] pairs, closed"
    )


class MultiPolygon(_Out):
    type: Literal["MultiPolygon"]
    coordinates: list[list[list[list[float]]]] = Field(
        description="an area across the antimeridian: its part on each side, each as a "
        "Polygon's rings"
    )


class IsochroneEstimate(_Out):
    reason: str = Field(description="why there is no reach on roads")
    assumed_speed_kmh: float
    radius_m: float
    note: str


class IsochroneProperties(_Out):
    method: Literal["road_graph", "straight_line"] = Field(
        description="`road_graph`: a bounded Dijkstra on the imported road graph; "
        "`straight_line`: a circle at an assumed speed where no imported road network "
        "covers the place (see `estimate`)"
    )
    mode: Literal["drive", "walk"]
    minutes: float
    origin: Origin
    snapped: Origin | None = Field(
        description="the point of the nearest usable road the trip starts from"
    )
    snap_distance_m: float = Field(description="metres from the origin to that road")
    area_km2: float = Field(description="the polygon's area on the WGS84 spheroid")
    reached_vertices: int = Field(description="road graph vertices reached in time")
    estimate: IsochroneEstimate | None = Field(
        default=None, description="only for `straight_line`: how it was estimated"
    )


class IsochroneResponse(_Out):
    """A GeoJSON Feature: the area reachable within ``minutes``."""

    type: Literal["Feature"]
    geometry: Polygon | MultiPolygon = Field(
        description="longitudes within -180..180 (RFC 7946): an area across the "
        "antimeridian is cut there into a MultiPolygon"
    )
    properties: IsochroneProperties


# --- the agencies' door: Create / Update / Public families (issue 12) ------------------
# The owner (agency), source, version and audit fields are never in a body: they come
# from the credential and the server. ``extra="forbid"`` makes a body that names them a
# 422 naming the field, so a client learns at once that they are not its to set.


class _PointFields(_In):
    # strict: `false` is no longitude, "5" is no latitude
    model_config = ConfigDict(extra="forbid", strict=True)

    name_en: str | None = Field(default=None, min_length=1, max_length=300)
    address_th: str | None = Field(default=None, max_length=500)
    address_en: str | None = Field(default=None, max_length=500)
    tambon_code: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6}$",
        description="the tambon the address names (6-digit DOPA code); left out: the "
        "tambon the pin stands in",
    )
    postcode: str | None = Field(default=None, pattern=r"^[1-9][0-9]{4}$")
    phones: list[Annotated[str, Field(pattern=PHONE_PATTERN)]] | None = Field(
        default=None, max_length=5
    )
    opening_hours: str | None = Field(
        default=None,
        max_length=500,
        description="OpenStreetMap opening_hours syntax, e.g. `Mo-Fr 08:30-16:30; PH off`",
    )
    wheelchair: bool | None = None
    priority_lane: bool | None = None
    gecc: bool | None = None


class PointCreate(_PointFields):
    kind: str = Field(pattern=CODE, max_length=64, description="a kind of your agency's")
    name_th: str = Field(min_length=1, max_length=300)
    name_en: str = Field(min_length=1, max_length=300)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    external_ref: str | None = Field(
        default=None, max_length=120, description="your agency's own id of this office"
    )


class PointUpdate(_PointFields):
    """Only the fields sent change; ``null`` is not a value here (leave a field out)."""

    name_th: str | None = Field(default=None, min_length=1, max_length=300)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    status: Literal["active", "temporarily_closed"] | None = Field(
        default=None, description="to close a point for good, DELETE it"
    )


class OfferingPut(_In):
    model_config = ConfigDict(extra="forbid", strict=True)

    copies_required: list[Annotated[str, Field(pattern=CODE, max_length=64)]] = Field(
        max_length=20,
        description="documents this office still wants as photocopies; [] = No-Copy",
    )
    notes: str | None = Field(default=None, max_length=1000)
    opening_hours: str | None = Field(
        default=None, max_length=500, description="this service's own hours (OSM syntax)"
    )


class PointWritten(_Out):
    point: PointDetail
    overridden: list[str] = Field(
        description="pin-check findings you overrode: the point needs review"
    )
    dry_run: bool | None = Field(
        default=None, description="true: the point as it would be; nothing was saved"
    )


class AccountPublic(_Out):
    username: str
    role: Literal["editor", "agency_admin", "platform_admin"]
    agency: AgencyRef | None = Field(description="null for a platform admin")


class ChangeEntry(_Out):
    id: int
    at: dt.datetime
    action: str
    field: str | None
    old: Any
    new: Any
    by: str | None = Field(description="the account that made the change")


class PointHistory(_Out):
    point_id: int
    changes: list[ChangeEntry]


class ImportProblem(_Out):
    row: int = Field(description="the data row, from 1 (the header is not counted)")
    field: str
    message: str = Field(description="what is wrong and what to fix")


class ImportResult(_Out):
    dry_run: bool
    written: bool = Field(description="true: the rows are saved; false: nothing was")
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportProblem] = Field(description="empty when the import is accepted")
    overridden: list[dict[str, Any]] = Field(
        description="rows saved although the pin check disagreed (override): they need review"
    )
