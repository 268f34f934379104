"""Snapping places to the road graph: two rules, because the two uses differ.

- One origin, exactly (``nearest_edges``, ``on_edge``): an isochrone starts at the
  nearest point *of a road* usable in the mode, part-way along it, found by a GiST
  nearest-neighbour query on ``road_edge`` in PostGIS; the same query reads the graph's
  stamp, so the snap and the graph in memory are known to be of one import. A few
  milliseconds, and only one place.
- Hundreds of thousands of places at once (``vertex_snapper``, ``to_vertices``):
  coverage in minutes snaps every tambon and every selected point to the nearest
  *vertex* of the mode's large connected parts, with a KD-tree over the graph in memory
  (``locator.geo.unit_xyz``), vectorised; one query per place would take minutes.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
from scipy.spatial import cKDTree  # type: ignore[import-untyped]

from locator.db.engine import Executor, run_prepared
from locator.geo import distances_m, unit_xyz
from locator.travel.graph import STAMP, Floats, Ints, RoadGraph
from locator.travel.modes import Mode

# --- one origin, onto a road ------------------------------------------------------------
CANDIDATES = 8
"""Roads the snap considers, nearest first."""
_USABLE: dict[Mode, str] = {
    "drive": "(e.cost >= 0 OR e.reverse_cost >= 0)",
    "walk": "e.walk_cost >= 0",
}


def _edges_sql(mode: Mode) -> str:
    return f"""
        SELECT s.db, s.edges, s.vertices, c.*
        FROM ({STAMP}) AS s
        LEFT JOIN LATERAL (
            SELECT e.source, e.target, e.cost, e.reverse_cost, e.walk_cost,
                   ST_LineLocatePoint(e.geom, o.g) AS fraction,
                   ST_Distance(e.geom::geography, o.g::geography) AS distance_m,
                   ST_X(ST_ClosestPoint(e.geom, o.g)) AS snap_lon,
                   ST_Y(ST_ClosestPoint(e.geom, o.g)) AS snap_lat
            FROM road_edge AS e,
                 (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) AS o
            WHERE {_USABLE[mode]}
            ORDER BY e.geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
            LIMIT {CANDIDATES}
        ) AS c ON true
    """


def nearest_edges(
    db: Executor, lat: float, lon: float, mode: Mode
) -> tuple[tuple[Any, ...], list[dict[str, Any]]]:
    """The graph's stamp (``graph.STAMP``) and the ``CANDIDATES`` roads usable in ``mode``
    nearest to (``lat``, ``lon``), nearest first (none: no such road is imported)."""
    rows = run_prepared(db, _edges_sql(mode), {"lat": lat, "lon": lon})
    first = rows[0]
    key = (first["db"], first["edges"], first["vertices"])
    candidates = sorted(
        (r for r in rows if r["source"] is not None), key=lambda r: float(r["distance_m"])
    )
    return key, candidates


@dataclass(frozen=True)
class Snap:
    source: int
    target: int
    to_target_s: float | None
    """seconds from the snapped point to the edge's target; None: not that way"""
    to_source_s: float | None
    distance_m: float
    lon: float
    lat: float


def on_edge(row: dict[str, Any], mode: Mode) -> Snap:
    """Where ``row`` (one of ``nearest_edges``) joins its road, and the seconds from there
    to either end of it."""
    f = min(max(float(row["fraction"]), 0.0), 1.0)
    if mode == "walk":
        forward = backward = float(row["walk_cost"])
    else:
        forward, backward = float(row["cost"]), float(row["reverse_cost"])
    return Snap(
        source=int(row["source"]),
        target=int(row["target"]),
        to_target_s=(1 - f) * forward if forward >= 0 else None,
        to_source_s=f * backward if backward >= 0 else None,
        distance_m=float(row["distance_m"]),
        lon=float(row["snap_lon"]),
        lat=float(row["snap_lat"]),
    )


# --- many places, onto vertices ----------------------------------------------------------
@dataclass
class VertexSnapper:
    """The vertices of a mode's large connected parts, in a KD-tree, and the reversed
    matrix (Dijkstra from the points over it gives each vertex its time *to* a point)."""

    graph: weakref.ref[RoadGraph]
    """The graph it was built from (the same object: keys alone could repeat)."""
    vertices: Ints
    tree: Any
    reverse: Any


_snappers: dict[Mode, VertexSnapper] = {}
_snap_lock = threading.Lock()


def vertex_snapper(graph: RoadGraph, mode: Mode) -> VertexSnapper:
    """The snapper of ``graph`` in ``mode``, built once per graph and kept."""
    cached = _snappers.get(mode)
    if cached is not None and cached.graph() is graph:
        return cached
    with _snap_lock:
        part = graph.modes[mode]
        n = part.vertices
        core = part.matrix[:n, :n]
        vertices = np.flatnonzero(part.big).astype(np.int64)
        tree = cKDTree(unit_xyz(graph.lon[vertices], graph.lat[vertices]))
        snapper = VertexSnapper(weakref.ref(graph), vertices, tree, csr_matrix(core.T))
        _snappers[mode] = snapper
        return snapper


def to_vertices(snapper: VertexSnapper, graph: RoadGraph, lon: Floats, lat: Floats,
                radius_m: float) -> tuple[Ints, Floats]:  # fmt: skip
    """Each place's nearest vertex of the large parts and the geodesic metres to it; -1
    beyond ``radius_m``."""
    if len(lon) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    _, idx = snapper.tree.query(unit_xyz(lon, lat), k=1)
    vertex = snapper.vertices[np.asarray(idx, dtype=np.int64)]
    metres = distances_m(lon, lat, graph.lon[vertex], graph.lat[vertex])
    return np.where(metres <= radius_m, vertex, -1), metres
