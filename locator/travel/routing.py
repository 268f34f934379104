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

import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson
from pyproj import Geod
from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import EngineUnavailable, InvalidInput, NotFound
from locator.failfast import Gate
from locator.settings import Settings
from locator.travel import osrm
from locator.travel.routing_engine import RoutingEngine

Method = Literal["osrm", "straight_line"]
_GEOD = Geod(ellps="WGS84")
STRAIGHT_LINE_SPEED_KMH: dict[osrm.Mode, float] = {"drive": 40.0, "walk": 5.0}
"""Speeds of the straight-line estimate: a town's average by car and a walking pace.
An estimate, labelled as such in every answer that uses it."""


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    point_id: int | None = None


def parse_place(value: str, parameter: str) -> Place:
    """``lat,lon`` (WGS84 degrees), or, for ``to``, a service point's id."""
    if value.strip().isascii() and value.strip().isdigit():
        if parameter != "to":
            raise InvalidInput(f"{parameter}: give lat,lon", parameter=parameter)
        number = int(value.strip())
        if not 0 < number < 2**63:
            raise NotFound(f"no service point with id {number}", id=number)
        return Place(0.0, 0.0, number)
    parts = value.strip().split(",")
    try:
        lat, lon = (float(p) for p in parts)
        if not all(map(math.isfinite, (lat, lon))):
            raise ValueError
    except ValueError:
        want = "lat,lon or a point id" if parameter == "to" else "lat,lon"
        raise InvalidInput(
            f"{parameter}: {value!r} is not {want} (for example 13.7466,100.5347)",
            parameter=parameter,
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(
            f"{parameter}: latitude is -90..90 and longitude -180..180, in that order",
            parameter=parameter,
        )
    return Place(lat, lon)


def geodesic_m(a: Place, b: Place) -> float:
    """Metres between two places on the WGS84 spheroid."""
    return float(_GEOD.inv(a.lon, a.lat, b.lon, b.lat)[2])


def straight_line_duration_s(metres: float, mode: osrm.Mode) -> float:
    return metres / (STRAIGHT_LINE_SPEED_KMH[mode] / 3.6)


def straight_line(origin: Place, dest: Place, mode: osrm.Mode, reason: str) -> dict[str, Any]:
    metres = geodesic_m(origin, dest)
    speed = STRAIGHT_LINE_SPEED_KMH[mode]
    return {
        "method": "straight_line",
        "mode": mode,
        "distance_m": round(metres, 1),
        "duration_s": round(straight_line_duration_s(metres, mode), 1),
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


_GATES: dict[int, Gate] = {}
_CLIENTS: dict[float, httpx.Client] = {}
_SHARED = threading.Lock()


def _gate(port: int, cooldown_s: float) -> Gate:
    """The engine's fail-fast gate: after a call timed out, one request per ``cooldown_s``
    probes it (a hung engine would hold every worker thread); the rest get 503 at once."""
    with _SHARED:
        return _GATES.setdefault(port, Gate(cooldown_s))


def _http(timeout_s: float) -> httpx.Client:
    """One keep-alive client per process (per timeout): a new TCP connection per engine
    call cost more than a local route takes to compute."""
    with _SHARED:
        client = _CLIENTS.get(timeout_s)
        if client is None:
            client = _CLIENTS[timeout_s] = httpx.Client(
                timeout=timeout_s,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            )
        return client


class OsrmClient:
    """Calls to the local engine, each with a timeout; an engine that is down or slow is
    ``EngineUnavailable`` (503), never a hang."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = RoutingEngine(settings)

    def get(self, mode: osrm.Mode, path: str, params: dict[str, str]) -> dict[str, Any]:
        port = self.engine.port(mode)
        gate = _gate(port, self.settings.osrm_retry_s)
        unavailable = EngineUnavailable(
            f"the {mode} routing engine does not answer; it may be starting or stopped",
            action="start_roads",
        )
        if not gate.admit():
            raise unavailable
        try:
            r = _http(self.settings.osrm_timeout_s).get(
                f"http://127.0.0.1:{port}/{path}", params=params
            )
            # orjson: a cross-country route is 200+ KB of GeoJSON, parsed in 1.4 ms
            # instead of the standard json module's 2.5 ms
            body: dict[str, Any] = orjson.loads(r.content)
        except httpx.TimeoutException as exc:
            gate.settle(ok=False)
            raise unavailable from exc
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            gate.settle(ok=True)  # refused at once: nothing to wait for next time
            raise unavailable from exc
        gate.settle(ok=True)
        return body

    def snap_distance(self, mode: osrm.Mode, place: Place) -> float | None:
        body = self.get(mode, f"nearest/v1/{mode}/{place.lon},{place.lat}", {"number": "1"})
        if body.get("code") != "Ok" or not body.get("waypoints"):
            return None
        return float(body["waypoints"][0]["distance"])


def _unsnappable(
    settings: Settings, client: OsrmClient, origin: Place, dest: Place, mode: osrm.Mode
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
    settings: Settings, origin: Place, dest: Place, mode: osrm.Mode, steps: bool = False
) -> dict[str, Any]:
    """The route from ``origin`` to ``dest`` (its coordinates resolved)."""
    if osrm.read_manifest(settings) is None:
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


def resolve(db: Executor, place: Place) -> Place:
    """A point id replaced by the point's position."""
    if place.point_id is None:
        return place
    row = db.execute(
        text("SELECT ST_Y(geog::geometry), ST_X(geog::geometry) FROM service_point WHERE id = :id"),
        {"id": place.point_id},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {place.point_id}", id=place.point_id)
    return Place(float(row[0]), float(row[1]), place.point_id)
