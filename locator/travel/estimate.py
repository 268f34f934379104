"""The straight-line estimate: a trip's time at an assumed speed along the geodesic, used
wherever no road answers (no network imported, a place outside it, an engine down).

One rule for every answer that falls back on it, so the route, the ranking, the isochrone
and coverage's siting all assume the same speeds (``modes.STRAIGHT_LINE_SPEED_KMH``):
a straight line for ``/v1/route``, a trip per candidate for the travel-time ranking, a
circle for ``/v1/isochrone``. Each answer says it is an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from locator.geo import EARTH_RADIUS_M, GEOD, distance_m
from locator.travel.modes import STRAIGHT_LINE_SPEED_KMH, Mode
from locator.travel.places import Place

CIRCLE_POINTS = 72


def duration_s(metres: float, mode: Mode) -> float:
    """Seconds to cover ``metres`` at the mode's straight-line speed."""
    return metres / (STRAIGHT_LINE_SPEED_KMH[mode] / 3.6)


def reach_m(minutes: float, mode: Mode) -> float:
    """Metres covered in ``minutes`` at the mode's straight-line speed."""
    return STRAIGHT_LINE_SPEED_KMH[mode] / 3.6 * minutes * 60


def straight_line(origin: Place, dest: Place, mode: Mode, reason: str) -> dict[str, Any]:
    """A route's answer (``/v1/route``) when no road route is found, saying why."""
    metres = distance_m(origin.lon, origin.lat, dest.lon, dest.lat)
    speed = STRAIGHT_LINE_SPEED_KMH[mode]
    return {
        "method": "straight_line",
        "mode": mode,
        "distance_m": round(metres, 1),
        "duration_s": round(duration_s(metres, mode), 1),
        "estimate": {
            "reason": reason,
            "assumed_speed_kmh": speed,
            "note": "a straight line at an assumed speed, not a route on roads",
        },
        "geometry": {
            "type": "LineString",
            "coordinates": [[origin.lon, origin.lat], [dest.lon, dest.lat]],
        },
        "snap_distance_m": {"from": 0.0, "to": 0.0},
        "snapped": {"from": [origin.lon, origin.lat], "to": [dest.lon, dest.lat]},
        "steps": [],
    }


def trip(origin: Place, lat: float, lon: float, mode: Mode) -> dict[str, Any]:
    """One ranked candidate's trip (the travel-time ranking) without the roads."""
    metres = distance_m(origin.lon, origin.lat, lon, lat)
    return {
        "method": "straight_line",
        "duration_s": round(duration_s(metres, mode), 1),
        "distance_m": round(metres, 1),
        "snap_distance_m": None,
    }


@dataclass(frozen=True)
class Circle:
    """What can be reached in a straight line: the isochrone's estimate."""

    ring: list[tuple[float, float]]
    """(lon, lat) around the origin, unwrapped; along the pole when the circle holds one"""
    speed_kmh: float
    radius_m: float
    area_km2: float
    """of the spherical cap (the ring's polygon is drawn, the area is exact)"""


def circle(lat: float, lon: float, minutes: float, mode: Mode) -> Circle:
    """The places within ``minutes`` of (``lat``, ``lon``) at the mode's straight-line speed."""
    speed = STRAIGHT_LINE_SPEED_KMH[mode]
    radius = reach_m(minutes, mode)
    azimuths = np.linspace(0, 360, CIRCLE_POINTS, endpoint=False)
    lons, lats, _ = GEOD.fwd(
        np.full(CIRCLE_POINTS, lon), np.full(CIRCLE_POINTS, lat), azimuths,
        np.full(CIRCLE_POINTS, radius),
    )  # fmt: skip
    lons = lon + (np.asarray(lons) - lon + 180) % 360 - 180  # around the origin, unwrapped
    ring = list(zip(lons.tolist(), np.asarray(lats).tolist(), strict=True))
    angular = radius / EARTH_RADIUS_M
    if math.radians(90 - abs(lat)) <= angular:
        # the circle holds a pole: the ring runs along it
        pole = math.copysign(90.0, lat)
        ring = sorted(ring)
        ring.append((ring[0][0] + 360, ring[0][1]))  # all the way round: one turn exactly
        ring = [(ring[0][0], pole), *ring, (ring[-1][0], pole)]
    area_km2 = 2 * math.pi * EARTH_RADIUS_M**2 * (1 - math.cos(angular)) / 1e6
    return Circle(ring, speed, radius, area_km2)
