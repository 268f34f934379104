"""Kinds of service point (``data/point_kinds.yaml``): what each offers, its hours, its
facilities, the department it belongs to and its Thai and English name.

One reader for the file: the catalogue loader checks it against the other files, and
pinning (which agency pins which kind), the pages and the maps (the kinds' names) ask
``point_kinds`` for it, read once per folder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from locator.registry.data_files import Strict, read_entries

KINDS_FILE = "point_kinds.yaml"


class PointKindIn(Strict):
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_th: str
    name_en: str
    agency: str
    source: Literal["real", "generated"]
    office_types: list[str] = Field(default_factory=list)
    hours: Literal["government", "extended", "hospital", "always", "post"] = "government"
    weekend_share: float = Field(default=0.0, ge=0, le=1)
    own_agency: bool = Field(
        default=False,
        description="each point is its own agency (local self-government: TAO, municipality)",
    )
    wheelchair_share: float = Field(default=0.5, ge=0, le=1)
    priority_lane_share: float = Field(default=0.5, ge=0, le=1)
    gecc_share: float = Field(default=0.1, ge=0, le=1)
    services: list[str] = Field(min_length=1)


def read_point_kinds(catalogue_dir: Path) -> list[PointKindIn]:
    """The kinds in the file's order, validated (``ConfigurationError`` naming the entry)."""
    return read_entries(catalogue_dir / KINDS_FILE, PointKindIn)


@lru_cache(maxsize=4)
def point_kinds(catalogue_dir: Path) -> dict[str, PointKindIn]:
    """Each kind by its code, read once per folder (the file changes only with a release)."""
    return {k.kind: k for k in read_point_kinds(catalogue_dir)}
