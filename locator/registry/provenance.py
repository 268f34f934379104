"""What of a point is real and what is made up: the demo registry is part real, part
generated, and nothing synthetic may pass for a fact.

``real``: from the public source as it is (the 5,266 real offices' names and pins, from
``th_gov_offices_hoerstemeier.csv``). ``derived``: composed by rule from real
reference data (an address from the real tambon, district and province names; the
services a kind of office offers, from the Citizen's Manual). ``synthetic``: made up
for the demo (every generated point whole; on real offices, the phone numbers, the
opening hours and the No-Copy statuses, which no public source gives).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Origin = Literal["real", "derived", "synthetic"]
FIELDS = ("location", "name", "address", "phones", "hours", "services", "no_copy")
REAL_SOURCES = ("pinned", "imported")
"""The sources whose points are real offices; a ``generated`` point is made up whole."""


def provenance(source: str, provided: Iterable[str] = ()) -> dict[str, Origin]:
    """Each field's origin, for a point of ``source`` (pinned, imported, generated);
    a field the point's agency ``provided`` (``service_point.provided``: hours it
    imported) is real whatever the point's source."""
    real = source in REAL_SOURCES
    origins: dict[str, Origin] = {
        "location": "real" if real else "synthetic",
        "name": "real" if real else "synthetic",
        "address": "derived" if real else "synthetic",
        "phones": "synthetic",
        "hours": "synthetic",
        "services": "derived" if real else "synthetic",
        "no_copy": "synthetic",
    }
    for name in provided:
        if name in origins:
            origins[name] = "real"
    return origins


def synthetic_fields(source: str, provided: Iterable[str] = ()) -> str:
    """The made-up fields as one comma-separated value, for flat exports (CSV, GeoPackage
    through the OGC API), where a nested object does not travel."""
    return ",".join(k for k, v in provenance(source, provided).items() if v == "synthetic")
