"""A route from a citizen to an office: OSRM on real roads, or, where no imported road
network covers the place, a straight-line estimate that says it is one.

Both ends are snapped to the road network within ``settings.route_snap_radius_m``
(passed to OSRM as ``radiuses``, and checked again on the snapped waypoints): farther
is a mistake to name ("the origin is 740 m from the nearest road"), not a route that
silently starts elsewhere. An end farther than ``settings.route_coverage_m`` from any
road is taken to lie outside the imported network (the Thai registry before Thai roads
are imported), and the answer is the straight-line estimate.
"""

from __future__ import annotations

from typing import Any, Literal

from locator.errors import InvalidInput
from locator.settings import Settings
from locator.travel.estimate import straight_line
from locator.travel.modes import Mode
from locator.travel.osrm.client import OsrmClient
from locator.travel.osrm.prepare import read_manifest
from locator.travel.places import Place

Method = Literal["osrm", "straight_line"]


def _unsnappable(
    settings: Settings, client: OsrmClient, origin: Place, dest: Place, mode: Mode
) -> dict[str, Any]:
    """An end with no road within the snap radius: outside the imported network (the
    straight-line estimate), or a place to move nearer a road (422, saying how far)."""
    snaps = {"from": client.snap_distance(mode, origin), "to": client.snap_distance(mode, dest)}
    coverage = settings.route_coverage_m
    outside = [end for end, d in snaps.items() if d is None or d > coverage]
    if outside:
        return straight_line(
            origin,
            dest,
            mode,
            f"no imported road network covers the {' and the '.join(outside)} end "
            f"(more than {coverage:g} m from any road)",
        )
    radius = settings.route_snap_radius_m
    far = {end: d for end, d in snaps.items() if d is not None and d > radius}
    end, distance = max(far.items(), key=lambda item: item[1]) if far else ("to", radius)
    raise InvalidInput(
        f"{end}: the nearest road is {distance:.0f} m away, more than the "
        f"{radius:g} m allowed; choose a place nearer a road",
        parameter=end,
        snap_distance_m=round(distance, 1),
        max_snap_distance_m=radius,
    )


def route(
    settings: Settings, origin: Place, dest: Place, mode: Mode, steps: bool = False
) -> dict[str, Any]:
    """The route from ``origin`` to ``dest`` (its coordinates resolved)."""
    if read_manifest(settings) is None:
        return straight_line(origin, dest, mode, "no road network is imported")
    client = OsrmClient(settings)
    radius = settings.route_snap_radius_m
    # one engine call in the common case; only when an end has no road within the radius
    # (NoSegment) are the two ends looked up again, to say which and how far
    body = client.get(
        mode,
        f"route/v1/{mode}/{origin.lon},{origin.lat};{dest.lon},{dest.lat}",
        {
            "overview": "full",
            "geometries": "geojson",
            "steps": "true" if steps else "false",
            "radiuses": f"{radius};{radius}",
        },
    )
    if body.get("code") == "NoSegment":
        return _unsnappable(settings, client, origin, dest, mode)
    if body.get("code") == "NoRoute":
        raise InvalidInput(
            "no road connects the two places in the imported network", parameter="to"
        )
    if body.get("code") != "Ok" or not body.get("routes"):
        raise InvalidInput(
            f"the routing engine found no route ({body.get('code')}: {body.get('message')})",
            parameter="to",
        )
    best = body["routes"][0]
    return {
        "method": "osrm",
        "mode": mode,
        "distance_m": round(float(best["distance"]), 1),
        "duration_s": round(float(best["duration"]), 1),
        "geometry": best["geometry"],
        "snap_distance_m": {
            end: round(float(w["distance"]), 1)
            for end, w in zip(("from", "to"), body["waypoints"], strict=True)
        },
        # where OSRM joined each end to the road: [lon, lat]
        "snapped": {
            end: [round(float(c), 6) for c in w["location"]]
            for end, w in zip(("from", "to"), body["waypoints"], strict=True)
        },
        "steps": [_step(s) for leg in best["legs"] for s in leg.get("steps", [])],
        "estimate": None,
    }


def _step(s: dict[str, Any]) -> dict[str, Any]:
    maneuver = s.get("maneuver", {})
    return {
        "instruction": " ".join(
            str(x) for x in (maneuver.get("type"), maneuver.get("modifier")) if x
        ),
        "road": s.get("name", ""),
        "distance_m": round(float(s.get("distance", 0.0)), 1),
        "duration_s": round(float(s.get("duration", 0.0)), 1),
        "location": maneuver.get("location"),
    }
