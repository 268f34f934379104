"""The travel modes: how a citizen makes the trip, and what each mode means to the parts
that compute trips.

One type for every door and module (routes, rankings, isochrones, coverage in minutes,
the road import): a mode is routed by an OSRM profile of its own, walked or driven at its
own speeds on the road graph, and estimated at its own straight-line speed where no road
network answers.
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["drive", "walk"]
PROFILES: dict[Mode, str] = {"drive": "car", "walk": "foot"}
"""Each travel mode and the OSRM profile (``share/profiles/<name>.lua``) it uses, in the
order the routing engines' ports follow."""
STRAIGHT_LINE_SPEED_KMH: dict[Mode, float] = {"drive": 40.0, "walk": 5.0}
"""Speeds of the straight-line estimate: a town's average by car and a walking pace.
An estimate, labelled as such in every answer that uses it."""
