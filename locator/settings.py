"""The one settings object.

Every limit the API enforces lives here, so the bounds written into the OpenAPI schema,
the validation in the domain code and the documentation can never drift apart.
Values come from the environment with the prefix ``LOCATOR_`` (for example
``LOCATOR_DATABASE_URL``), or from a ``.env`` file in the working directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_shared(name: str) -> Path:
    """The shared reference folder beside the project, where the project card puts it."""
    return PROJECT_ROOT.parent / "shared" / name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCATOR_", env_file=".env", extra="ignore")

    # --- where things are -------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a PostGIS database. Unset: the embedded local cluster.",
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

    # --- serving ----------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Worker threads per process for the (sync) routes; few threads keep "
        "the GIL hand-offs, and so the tail latency, short.",
    )

    # --- limits the API enforces ------------------------------------------------------
    default_k: int = Field(default=10, ge=1)
    max_k: int = Field(default=100, ge=1, le=1000)
    max_radius_m: float = Field(default=200_000, gt=0, le=2_000_000)
    max_bbox_area_deg2: float = Field(default=400.0, gt=0)
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1, le=10_000)
    max_query_length: int = Field(default=100, ge=1)
    snap_radius_m: float = Field(default=1_000, gt=0, le=50_000)
    max_rating_comment: int = Field(default=1000, ge=1)
    ratings_per_client_per_point_per_day: int = Field(default=3, ge=1)
    max_bulk_rows: int = Field(default=10_000, ge=1)
    areas_simplify_deg: float = Field(default=0.005, ge=0, le=1)
    client_hash_key: str = Field(
        default="locator-dev-key",
        description="Key of the hash that stands in for client addresses (set in production).",
    )

    @field_validator("data_dir", "osm_dir", "state_dir", "catalogue_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
