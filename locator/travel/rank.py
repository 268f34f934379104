"""Nearest by travel time: the nearest points by distance, re-ranked by how long the
trip takes on the roads, with "open" judged when the citizen gets there.

A point 2 km away across a river can be a 20-minute drive, and an office that is open
now but closes in ten minutes is no use to someone thirty minutes away. So the top
candidates by distance (``settings.travel_time_candidates``, at least 3k) go to the
routing engine in ONE table call (origin x candidates), are ordered by duration, and,
with ``open_now``, each is judged open or closed at its arrival time (now + travel
time) by the same SQL function that filters ``open_now`` everywhere else.

Where no imported network covers the origin, or the engine does not answer (the search
must not fail with it), durations are the straight-line estimate of ``locator.travel.estimate``
(so the order is the distance order) and the answer says so. A
candidate the engine cannot reach (no road within the snap radius, or no connection)
keeps a straight-line estimate, labelled, and ranks after every routed one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, TIMESTAMP

from locator.db.engine import Executor
from locator.errors import EngineUnavailable
from locator.query.filters import PointFilter
from locator.query.nearest import nearest
from locator.settings import Settings
from locator.travel import estimate
from locator.travel.modes import Mode
from locator.travel.osrm.client import OsrmClient
from locator.travel.osrm.prepare import read_manifest
from locator.travel.places import Place

MAX_TABLE = 999
"""Candidates in one table call: osrm-routed is started with --max-table-size 1000."""


@dataclass
class Ranking:
    results: list[dict[str, Any]]
    info: dict[str, Any]


def candidate_count(settings: Settings, k: int) -> int:
    return min(max(3 * k, settings.travel_time_candidates), MAX_TABLE)


@dataclass(frozen=True)
class NoTravelTimes:
    """Why the candidates keep the distance order (durations estimated in a line)."""

    code: str
    """no_network, outside_network, far_from_road, engine_unavailable or engine_error:
    for a page to say it in its own words and language."""
    reason: str
    origin_snap_m: float | None = None


def _network_travel(
    settings: Settings, origin: Place, points: list[dict[str, Any]], mode: Mode
) -> tuple[list[dict[str, Any]], NoTravelTimes | None]:
    """Each point's trip by the engine (one table call), or why there is none at all:
    a ranking falls back to the distance order rather than fail the search."""
    if read_manifest(settings) is None:
        return [], NoTravelTimes("no_network", "no road network is imported")
    coords = ";".join(
        f"{x:.6f},{y:.6f}"
        for x, y in [(origin.lon, origin.lat)] + [(p["lon"], p["lat"]) for p in points]
    )
    try:
        body = OsrmClient(settings).get(
            mode,
            f"table/v1/{mode}/{coords}",
            {"sources": "0", "annotations": "duration,distance"},
        )
    except EngineUnavailable as exc:
        return [], NoTravelTimes("engine_unavailable", str(exc))
    if body.get("code") != "Ok":
        return [], NoTravelTimes(
            "engine_error",
            f"the routing engine could not rank these points ({body.get('code')}: "
            f"{body.get('message')})",
        )
    origin_snap = float(body["sources"][0]["distance"])
    if origin_snap > settings.route_coverage_m:
        return [], NoTravelTimes(
            "outside_network",
            f"no imported road network covers the origin (more than "
            f"{settings.route_coverage_m:g} m from any road)",
            round(origin_snap, 1),
        )
    if origin_snap > settings.route_snap_radius_m:
        return [], NoTravelTimes(
            "far_from_road",
            f"the origin is {origin_snap:.0f} m from the nearest road, more than the "
            f"{settings.route_snap_radius_m:g} m a trip may start from",
            round(origin_snap, 1),
        )
    durations = body["durations"][0]
    distances = body["distances"][0]
    travel = []
    for j, point in enumerate(points, start=1):
        snap = float(body["destinations"][j]["distance"])
        if durations[j] is None or snap > settings.route_snap_radius_m:
            travel.append(estimate.trip(origin, point["lat"], point["lon"], mode))
            continue
        travel.append(
            {
                "method": "osrm",
                "duration_s": round(float(durations[j]), 1),
                "distance_m": round(float(distances[j]), 1),
                "snap_distance_m": round(snap, 1),
            }
        )
    return travel, None


_OPEN_ON_ARRIVAL = text(
    "SELECT x.id, locator_is_open(coalesce(o.opening_hours, p.opening_hours), x.t) "
    "FROM unnest(:ids, :times) AS x(id, t) JOIN service_point p ON p.id = x.id "
    "LEFT JOIN offering o ON o.point_id = x.id AND o.service_code = :service"
).bindparams(
    bindparam("ids", type_=ARRAY(BIGINT)),
    bindparam("times", type_=ARRAY(TIMESTAMP(timezone=True))),
)
"""Open at each arrival time, by the asked service's own hours where it has them."""


def nearest_by_travel_time(
    db: Executor,
    settings: Settings,
    lat: float,
    lon: float,
    f: PointFilter,
    k: int,
    radius_m: float | None,
    mode: Mode,
) -> Ranking:
    """The ``k`` points the citizen reaches soonest, among the nearest candidates."""
    origin = Place(lat, lon)
    by_distance = f.model_copy(update={"open_now": None}) if f.open_now is not None else f
    n = candidate_count(settings, k)
    candidates = nearest(
        db, lat, lon, by_distance, n, radius_m, max_gap_m=settings.max_origin_gap_m
    ).results
    travel, fallback = _network_travel(settings, origin, candidates, mode)
    if fallback is not None:
        travel = [estimate.trip(origin, p["lat"], p["lon"], mode) for p in candidates]
    start = f.moment()
    for point, trip in zip(candidates, travel, strict=True):
        trip["arrives_at"] = start + dt.timedelta(seconds=trip["duration_s"])
        point["travel"] = trip
    if candidates:
        rows = db.execute(
            _OPEN_ON_ARRIVAL,
            {
                "ids": [p["id"] for p in candidates],
                "times": [p["travel"]["arrives_at"] for p in candidates],
                "service": f.service,
            },
        )
        open_at_arrival = {int(i): bool(o) for i, o in rows}
        for point in candidates:
            point["travel"]["open_on_arrival"] = open_at_arrival[point["id"]]
    if f.open_now is not None:
        candidates = [p for p in candidates if p["travel"]["open_on_arrival"] is f.open_now]
    candidates.sort(
        key=lambda p: (p["travel"]["method"] != "osrm", p["travel"]["duration_s"], p["id"])
    )
    notes = [f"the {n} nearest by distance, ordered by travel time"]
    if f.open_now is not None:
        notes.append("open or closed as judged at each one's arrival time")
    unrouted = sum(p["travel"]["method"] != "osrm" for p in candidates)
    if unrouted and fallback is None:
        notes.append(
            f"{unrouted} of them not reachable on the imported roads: estimated in a "
            "straight line and ranked last"
        )
    info = {
        "by": "travel_time",
        "mode": mode,
        "method": "straight_line" if fallback else "osrm",
        "candidates": n,
        "departs_at": start,
        "estimate_reason": fallback.reason if fallback else None,
        "estimate_code": fallback.code if fallback else None,
        "origin_snap_distance_m": fallback.origin_snap_m if fallback else None,
        "note": "; ".join(notes),
    }
    return Ranking(candidates[:k], info)
