"""The one settings object.

Every limit the API enforces lives here, so the bounds written into the OpenAPI schema,
the validation in the domain code and the documentation can never drift apart.
Values come from the environment with the prefix ``LOCATOR_`` (for example
``LOCATOR_DATABASE_URL``), or from a ``.env`` file in the working directory.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_shared(name: str) -> Path:
    """The shared reference folder beside the project, where the project card puts it."""
    return PROJECT_ROOT.parent / "shared" / name


CommaList = Annotated[list[str], NoDecode]
"""A list read from the environment as comma-separated words (``a,b,c``)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCATOR_", env_file=".env", extra="ignore")

    # --- where things are -------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a PostGIS database, as its owner (migrations, loads). "
        "Unset: the embedded local cluster.",
    )
    api_database_url: str | None = Field(
        default=None,
        description="URL the API writes through, as the role locator_api or a member of "
        "it. Unset: `database_url` as the user locator_api, no password.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="URL of the API's public reads, as the role locator_reader or a member "
        "of it. Unset: `database_url` as the user locator_reader, no password.",
    )
    data_dir: Path = Field(
        default_factory=lambda: _default_shared("thai-geodata"),
        description="Folder with the Thai reference geodata (see README).",
    )
    osm_dir: Path = Field(
        default_factory=lambda: _default_shared("osm"),
        description="Folder with OpenStreetMap .osm.pbf extracts.",
    )
    catalogue_dir: Path = Field(
        default=PROJECT_ROOT / "data",
        description="The hand-written service catalogue (YAML).",
    )
    registry_seed: int = Field(default=2021, description="Seed of the generated registry.")
    osrm_dir: Path | None = Field(
        default=None,
        description="The OSRM engine (the osrm-bindings wheel unpacked by `make venv`). "
        "Unset: `osrm` inside the running Python environment (.venv/osrm).",
    )
    osrm_port: int = Field(
        default=54330,
        ge=1024,
        le=65534,
        description="Loopback port of the local routing engine for driving; walking uses "
        "the next one.",
    )
    osrm_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Longest wait for one answer of the routing engine."
    )
    osrm_retry_s: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="After the routing engine timed out, how long requests get 503 at once "
        "before one tries it again.",
    )
    route_snap_radius_m: float = Field(
        default=500.0,
        gt=0,
        le=50_000,
        description="How far from the nearest road a route's end may be (OSRM's radiuses).",
    )
    travel_time_candidates: int = Field(
        default=30,
        ge=1,
        le=999,
        description="How many of the nearest points by distance `rank=travel_time` sends to "
        "the routing engine to re-rank (at least 3k).",
    )
    route_coverage_m: float = Field(
        default=5_000.0,
        gt=0,
        description="An end farther than this from any imported road lies outside the "
        "network: the route is then a labelled straight-line estimate.",
    )
    max_isochrone_minutes: float = Field(
        default=60.0,
        gt=0,
        le=24 * 60,
        description="The longest travel time /v1/isochrone draws the reach of, minutes.",
    )
    # --- the pin check (locator.registry.pincheck) ----------------------------------------------
    pin_tambon_tolerance_m: float = Field(
        default=10_000.0,
        gt=0,
        description="How far a pin may lie outside the tambon its address names (the "
        "tambon polygons have about 7 vertices). Measured on the 3,113 real offices coded "
        "to a tambon: honest pins reach 6.9 km (the coast and rivers: 26 offices lie up to "
        "6.8 km outside every polygon), then nothing until 16.7 km, where the wrong ones "
        "begin (17 to 454 km: another district or province); 10 km sits in that gap.",
    )
    duplicate_distance_m: float = Field(
        default=100.0,
        gt=0,
        description="Two offices of one agency and kind closer than this with similar "
        "names are flagged as duplicates (the source's duplicates lie 0-80 m apart).",
    )
    duplicate_similarity: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Trigram similarity of the Thai names (pg_trgm) at or above which two "
        "nearby offices count as one; different tambon names under the same long prefix "
        "('องค์การบริหารส่วนตำบล...') score up to 0.77 (a misspelling of one: 0.86).",
    )
    state_dir: Path = Field(
        default=PROJECT_ROOT / ".locator",
        description="Git-ignored folder for the embedded cluster, logs and build outputs.",
    )

    # --- the embedded cluster ---------------------------------------------------------
    db_port: int = Field(default=54329, ge=1024, le=65535)
    db_name: str = Field(default="locator", pattern=r"^[a-z_][a-z0-9_]*$")
    pg_bin_dir: Path | None = Field(
        default=None, description="PostgreSQL server binaries; found automatically when unset."
    )

    # --- the API's database sessions: every wait has a bound ---------------------------
    read_statement_timeout_ms: int = Field(
        default=2_000, ge=100, description="Longest a public read query may run."
    )
    write_statement_timeout_ms: int = Field(
        default=5_000, ge=100, description="Longest a write statement may run."
    )
    lock_timeout_ms: int = Field(default=2_000, ge=10, description="Longest wait for a lock.")
    idle_in_transaction_timeout_ms: int = Field(
        default=10_000, ge=100, description="A transaction left idle this long is ended."
    )
    connect_timeout_s: int = Field(
        default=3, ge=2, le=60, description="Longest wait to open a connection (libpq: >= 2)."
    )
    connect_retry_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="After a failed connection, the API refuses at once (503) for this "
        "long before it tries again, so no request waits out a dead network.",
    )
    pool_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Longest wait for a pooled connection."
    )

    # --- read replicas (locator.db.replicas) ------------------------------------------
    read_database_urls: CommaList = Field(
        default_factory=list,
        description="URLs of read replicas (hot standbys of the primary, as locator_reader; "
        "comma-separated). Public reads are spread over those in step with the primary; "
        "writes and authenticated requests stay on the primary. Empty: no replicas.",
    )
    replica_max_lag_s: float = Field(
        default=5.0,
        gt=0,
        le=3_600,
        description="A replica that has not yet replayed what the primary wrote this many "
        "seconds ago is left out until it catches up; its reads go elsewhere.",
    )
    replica_check_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each server process asks its replicas (and the primary) how "
        "far behind they are.",
    )
    replica_retry_s: float = Field(
        default=5.0,
        gt=0,
        le=3_600,
        description="A replica that failed to answer, or lagged, is asked again after this long.",
    )

    # --- serving ----------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = Field(
        default=None,
        description="The address clients use (https://locator.example.go.th); links are "
        "built from it. Unset: from the request, whose Host must be in `allowed_hosts`.",
    )
    allowed_hosts: CommaList = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host headers accepted (comma-separated; `*` accepts any). The host of "
        "`public_base_url` is always accepted.",
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For / -Proto are "
        "believed (comma-separated IPs or networks). Default: none.",
    )
    cors_origins: CommaList = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed to read the public GET routes from a browser.",
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1_024, description="Largest request body; more is a 413."
    )
    max_import_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1_024,
        description="Largest bulk import file (the whole 60,000-point registry is about "
        "14 MB as CSV, 32 MB as GeoJSON); more is a 413.",
    )
    max_import_rows: int = Field(
        default=100_000, ge=1, description="Most rows in one bulk import; split a larger file."
    )
    max_concurrent_imports: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Bulk imports worked on at once per server process; one more is a quick "
        "503, so imports cannot take every worker thread from the citizens' searches.",
    )
    # --- the per-account import limit (issue 20: hostile files back to back) ---
    imports_per_account_per_hour: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Bulk import attempts (dry runs and refused files too) one account may "
        "make in an hour; one more is a 429 with Retry-After, answered before the file is "
        "read, so posting files back to back cannot keep a core busy.",
    )
    import_statement_timeout_ms: int = Field(
        default=120_000,
        ge=1_000,
        description="Longest one statement of a bulk import may run (the whole registry's "
        "pin check is one statement).",
    )
    max_concurrent_requests: int = Field(
        default=16,
        ge=1,
        le=4096,
        description="Requests one server process works on at once; more wait in line.",
    )
    max_waiting_requests: int = Field(
        default=16,
        ge=0,
        le=4096,
        description="Requests one server process lets wait for a turn; more get a 503 at once.",
    )
    queue_timeout_ms: int = Field(
        default=250,
        ge=0,
        description="Longest a request waits in line for its turn before a 503.",
    )
    retry_after_s: int = Field(
        default=2, ge=1, description="Retry-After sent with every 503 (seconds)."
    )
    graceful_shutdown_s: int = Field(
        default=10, ge=1, description="On SIGTERM, how long in-flight requests may finish."
    )
    api_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Worker threads per process for the (sync) routes; few threads keep "
        "the GIL hand-offs, and so the tail latency, short. At twice the saturation rate "
        "(bench/load.py) 4 threads kept /healthz at p99 24 ms where 8 gave 143 ms, for "
        "the same throughput.",
    )

    # --- the network edge: slow and oversized clients (issue 20, items 1, 4, 13) -------
    max_header_bytes: int = Field(
        default=32_768,
        ge=4_096,
        le=1_048_576,
        description="Largest request line and headers together; more is a 431 and the "
        "connection closed (an unfinished head is never held beyond it).",
    )
    max_url_bytes: int = Field(
        default=16_384,
        ge=1_024,
        le=1_048_576,
        description="Longest URL (path and query); more is a 414. At most `max_header_bytes`.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Longest a request line and its headers may take to arrive (from the "
        "connection's first byte or the request's); then a 408 and the connection closed.",
    )
    body_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Longest a request body (at most `max_body_bytes`) may take to arrive; "
        "then a 408. It is read whole before the request takes an admission slot.",
    )
    import_body_timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=3_600,
        description="Longest a bulk import's file may take to arrive (64 MiB in 300 s is "
        "1.8 Mbit/s); then a 408, and the slot its request held is free.",
    )

    @model_validator(mode="after")
    def _url_within_head(self) -> Settings:
        if self.max_url_bytes > self.max_header_bytes:
            raise ValueError(
                f"max_url_bytes ({self.max_url_bytes}) is above max_header_bytes "
                f"({self.max_header_bytes})"
            )
        return self

    # --- the map page -----------------------------------------------------------------
    tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Street tiles for the map page ({z}/{x}/{y}); OpenStreetMap's own by "
        "default, within its tile usage policy. A deployment points it at its own server. "
        "Empty: no street tiles, only the offline outlines.",
    )
    tile_attribution: str = Field(
        default="© OpenStreetMap contributors",
        description="Attribution shown with the tiles, as their licence requires.",
    )

    # --- limits the API enforces ------------------------------------------------------
    default_k: int = Field(default=10, ge=1)
    max_k: int = Field(default=100, ge=1, le=1000)
    max_radius_m: float = Field(default=200_000, gt=0, le=2_000_000)
    max_bbox_area_deg2: float = Field(default=400.0, gt=0)
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1, le=10_000)
    max_query_length: int = Field(default=100, ge=1)
    search_candidates: int = Field(
        default=1_000,
        ge=10,
        le=100_000,
        description="A name search ranks at most this many matches; a word matching more "
        "is answered from the first ones found (and says so).",
    )
    max_rating_comment: int = Field(default=1000, ge=1)
    ratings_per_client_per_point_per_day: int = Field(default=3, ge=1)
    ratings_per_client_per_day: int = Field(
        default=20,
        ge=1,
        description="Ratings one client may give in a day over all points (a visit a day "
        "to twenty offices is already more than anyone makes).",
    )
    areas_simplify_deg: float = Field(default=0.005, ge=0, le=1)

    # --- nearest's served area (issue 20, the hot path) --------------------------------
    max_origin_gap_m: float = Field(
        default=300_000,
        gt=0,
        le=2_000_000,
        description="How far an origin of nearest (or of a name search with lat/lon) may "
        "lie from every service point. Beyond "
        "it (a bad GPS fix such as 0,0, 11,000 km from Thailand) the answer is a 422 saying "
        "so: a KNN search from far outside the served area walks the whole index.",
    )
    client_hash_key: str | None = Field(
        default=None,
        min_length=16,
        description="Key of the hash that stands in for client addresses in the ratings' "
        "abuse limit. Unset: the embedded set-up makes one in the state folder; a "
        "deployment with LOCATOR_DATABASE_URL must set it.",
    )

    # --- observability: metrics and logs ----------------------------------------------
    metrics_allowed: CommaList = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Client addresses (comma-separated IPs or networks) that may read "
        "`/metrics`; others get a 403. Behind a proxy, the address is the forwarded one "
        "(see `trusted_proxies`). Default: this machine only.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`locator serve`'s log lines: `text`, or `json` (one object a line: "
        "time, level, logger, message, request_id; access lines add method, path, status, "
        "duration_ms, client).",
    )

    @field_validator("metrics_allowed", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """Comma-separated, and each a network, checked now rather than at a scrape."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for network in value if isinstance(value, list) else ():
            ipaddress.ip_network(str(network), strict=False)  # ValueError names it
        return value

    @field_validator("data_dir", "osm_dir", "state_dir", "catalogue_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator(
        "allowed_hosts", "trusted_proxies", "cors_origins", "read_database_urls", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_base_url", mode="after")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"give an absolute http(s) URL, such as https://example.org (got {value!r})"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> Settings:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) is above max_k ({self.max_k})")
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"default_page_size ({self.default_page_size}) is above max_page_size "
                f"({self.max_page_size})"
            )
        return self

    def host_allowed(self, host: str) -> bool:
        """Whether a request's Host (without port) is one this deployment answers to."""
        host = host.lower().strip("[]")
        if "*" in self.allowed_hosts or host in (h.lower().strip("[]") for h in self.allowed_hosts):
            return True
        public = urlsplit(self.public_base_url).hostname if self.public_base_url else None
        return host == public


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
