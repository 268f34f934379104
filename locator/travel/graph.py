"""The road graph in memory: ``road_vertex`` and ``road_edge`` (``locator.travel.roads``)
as one CSR matrix per mode, for isochrones and coverage's travel times.

The graph is read from PostGIS once per process (both modes from one pass, ``COPY`` in
binary) into a CSR matrix per mode and kept; it is read again when the stamp changes.
The stamp is the tables' ``pg_relation_filenode``: ``roads.load`` replaces the graph
with TRUNCATE, which gives both tables new files in the same transaction, so a new import
(in this process or any other) is seen by the next request, and never half. Isochrones
and coverage share the one copy, so that one process reads it once.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extensions
from numpy.typing import NDArray
from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from locator.db.engine import Executor, run_prepared
from locator.errors import Busy
from locator.travel.modes import Mode

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

BIG_COMPONENT = 1000
"""Vertices of a connected part at least this large (or the largest, in a smaller
network) are preferred when snapping: OSRM's ``--small-component-size``."""
SLOTS = 32
"""Virtual origin vertices in each matrix: one per isochrone computed at the same time."""
LOAD_TIMEOUT_MS = 300_000
"""The longest a graph read may run (a country's graph is millions of rows)."""
LOAD_WAIT_S = 5.0
"""How long a request waits for another one reading the graph before answering 503."""


@dataclass
class ModeGraph:
    """One mode's graph: a CSR matrix over the vertices (seconds), plus ``SLOTS`` virtual
    origin vertices after them, each with two edges set per request."""

    matrix: Any
    vertices: int
    edges: int
    big: NDArray[np.bool_]
    slots: queue.SimpleQueue[int] = field(default_factory=queue.SimpleQueue)

    def slot_entries(self, slot: int) -> slice:
        start = int(self.matrix.indptr[slot])
        return slice(start, start + 2)


@dataclass
class RoadGraph:
    key: tuple[Any, ...]
    lon: Floats
    lat: Floats
    modes: dict[Mode, ModeGraph]

    @property
    def empty(self) -> bool:
        return all(m.edges == 0 for m in self.modes.values())


_graph: RoadGraph | None = None
_load_lock = threading.Lock()


def _raw(db: Executor) -> Any:
    conn = db.connection() if isinstance(db, Session) else db
    return conn.connection


def _copy(cur: Any, query: str, fields: list[tuple[str, str]]) -> NDArray[Any]:
    """``COPY (query) TO STDOUT (FORMAT binary)`` of fixed-width, non-null columns, read
    straight into a numpy record array."""
    buffer = io.BytesIO()
    cur.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT binary)", buffer)
    data = buffer.getbuffer()
    # header: 11-byte signature, flags (4), extension length (4) and the extension
    offset = 19 + int.from_bytes(data[15:19], "big")
    layout: list[tuple[str, str]] = [("_n", ">i2")]
    for name, kind in fields:
        layout += [(f"_{name}", ">i4"), (name, kind)]
    dtype = np.dtype(layout)
    count = (len(data) - offset - 2) // dtype.itemsize  # the trailer is 2 bytes
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset)


# named columns: read as a dict row, two unnamed pg_relation_filenode columns were one,
# and a key made from them never matched the graph's (every coverage run read the 2M-
# vertex graph again, 5 s)
STAMP = (
    "SELECT current_database() AS db, pg_relation_filenode('road_edge') AS edges, "
    "pg_relation_filenode('road_vertex') AS vertices"
)


def _read(db: Executor) -> RoadGraph:
    """The whole graph, read in binary; its key is the stamp before and after (equal, or
    it is read again: an import committed meanwhile)."""
    raw = _raw(db)
    try:
        with raw.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (LOAD_TIMEOUT_MS,))
            try:
                for _ in range(3):
                    cur.execute(STAMP)
                    before = tuple(cur.fetchone())
                    vertices = _copy(
                        cur,
                        "SELECT id, ST_X(geom), ST_Y(geom) FROM road_vertex",
                        [("id", ">i8"), ("lon", ">f8"), ("lat", ">f8")],
                    )
                    edges = _copy(
                        cur,
                        "SELECT source, target, cost, reverse_cost, walk_cost FROM road_edge",
                        [("source", ">i8"), ("target", ">i8"), ("cost", ">f8"),
                         ("reverse_cost", ">f8"), ("walk_cost", ">f8")],
                    )  # fmt: skip
                    cur.execute(STAMP)
                    if tuple(cur.fetchone()) == before:
                        break
                else:
                    raise Busy("the road network is being re-imported; try again in a moment")
            finally:
                if raw.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_INERROR:
                    cur.execute("RESET statement_timeout")
    except psycopg2.Error as exc:
        raise DBAPIError.instance("reading the road graph", None, exc, psycopg2.Error) from exc
    return build(before, vertices, edges)


def build(key: tuple[Any, ...], vertices: NDArray[Any], edges: NDArray[Any]) -> RoadGraph:
    """The in-memory graph from the rows of ``road_vertex`` and ``road_edge``."""
    n = int(vertices["id"].max()) + 1 if len(vertices) else 1
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    ids = vertices["id"].astype(np.int64)
    lon[ids] = vertices["lon"]
    lat[ids] = vertices["lat"]
    source = edges["source"].astype(np.int64)
    target = edges["target"].astype(np.int64)
    if len(edges) and (
        max(source.max(), target.max()) >= n
        or np.isnan(lon[source]).any()
        or np.isnan(lon[target]).any()
    ):
        # edges naming vertices this read did not see: read again (a concurrent import)
        return RoadGraph(("inconsistent", time.monotonic()), lon, lat, {})
    cost = edges["cost"].astype(np.float64)
    reverse = edges["reverse_cost"].astype(np.float64)
    walk = edges["walk_cost"].astype(np.float64)
    drive = _mode_graph(
        n,
        np.concatenate([source[cost >= 0], target[reverse >= 0]]),
        np.concatenate([target[cost >= 0], source[reverse >= 0]]),
        np.concatenate([cost[cost >= 0], reverse[reverse >= 0]]),
        directed=True,
    )
    on_foot = walk >= 0
    foot = _mode_graph(
        n,
        np.concatenate([source[on_foot], target[on_foot]]),
        np.concatenate([target[on_foot], source[on_foot]]),
        np.concatenate([walk[on_foot], walk[on_foot]]),
        directed=False,
    )
    return RoadGraph(key, lon, lat, {"drive": drive, "walk": foot})


def _mode_graph(n: int, rows: Ints, cols: Ints, seconds: Floats, directed: bool) -> ModeGraph:
    # parallel edges (two ways between the same junctions): the faster one
    order = np.lexsort((seconds, cols, rows))
    rows, cols, seconds = rows[order], cols[order], seconds[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, seconds = rows[first], cols[first], seconds[first]
    # an edge of no length still joins its ends (an explicit zero is no edge to scipy)
    seconds = np.maximum(seconds, 1e-6)
    size = n + SLOTS
    counts = np.bincount(rows, minlength=size)
    counts[n:] = 2  # each virtual origin: two edges, set per request
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    slot_ids = np.repeat(np.arange(n, size), 2)
    indices = np.concatenate([cols, slot_ids]).astype(np.int32)
    data = np.concatenate([seconds, np.ones(2 * SLOTS)])
    index_type = np.int32 if len(indices) < 2**31 else np.int64
    matrix = csr_matrix((data, indices, indptr.astype(index_type)), shape=(size, size))
    big = np.zeros(n, dtype=bool)
    if len(rows):
        core = csr_matrix(
            (seconds, cols.astype(np.int32), indptr[: n + 1].astype(index_type)), shape=(n, n)
        )
        _, labels = connected_components(
            core, directed=directed, connection="strong" if directed else "weak"
        )
        sizes = np.bincount(labels)
        big = sizes[labels] >= min(BIG_COMPONENT, int(sizes.max()))
    graph = ModeGraph(matrix, n, len(rows), big)
    for slot in range(n, size):
        graph.slots.put(slot)
    return graph


def graph_for(db: Executor, key: tuple[Any, ...]) -> RoadGraph:
    """The graph in memory if it is the one ``key`` names, else read again (once per
    process and import: other requests wait for the read, up to ``LOAD_WAIT_S``)."""
    global _graph
    graph = _graph
    if graph is not None and graph.key == key:
        return graph
    if not _load_lock.acquire(timeout=LOAD_WAIT_S):
        raise Busy("the road graph is being read into memory; try again in a moment")
    try:
        graph = _graph
        if graph is not None and graph.key == key:
            return graph
        graph = _read(db)
        if not graph.empty:
            # an empty read is not kept: it costs nothing to repeat, and a read racing an
            # import's commit can see the new, empty-looking tables
            _graph = graph
        return graph
    finally:
        _load_lock.release()


def current_graph(db: Executor) -> RoadGraph:
    """The imported road graph, as kept in memory once per process and import (an empty
    one when none is imported): the isochrones' graph, shared with coverage's travel
    times so that one process reads it once."""
    stamp = run_prepared(db, STAMP, {})[0]
    return graph_for(db, tuple(stamp.values()))


def forget() -> None:
    """Drop the graph held in memory (the next isochrone reads it again)."""
    global _graph
    _graph = None
