"""Routing: GET /v1/route against OSRM alone (the ceiling) and plain pgr_dijkstra (the
baseline), on the real Liechtenstein extract and on a graph of about 2 million vertices
tiled from it.

Run by hand:  .venv/bin/python -m bench.routing [--requests 400] [--pgr 10]

The large graph is made at the OpenStreetMap level, so that one `locator roads import`
builds OSRM's data and the PostGIS graph from the same input, as a deployment does:
Liechtenstein's extract copied ``cols x rows`` times side by side (each copy's node
coordinates shifted by whole multiples of the width and height of its road network's
box in degrees, its node, way and relation ids shifted per copy, every tag copied), and
each pair of neighbouring copies joined by up to 3 ``highway=primary`` ways between
road nodes that lie near each other once shifted. The grid is chosen for about
``--vertices`` road_vertex rows from Liechtenstein's own count (4,124 with the walking
edges: 32 x 15 copies, 1.98 million), about as wide as tall in kilometres. It starts at
Liechtenstein and grows north and east (32 x 15: 47.03-50.80 N, 9.47-15.10 E, over
central Europe): real latitudes and longitudes, where a copy keeps its shape in metres
within a tenth (a degree of longitude is 7 % shorter at 50.8 N than at 47 N). The file
is cached in ``bench/output/``; each graph is imported once into a database of its own
(``locator_bench_roads`` for the tiled graph, ``locator_bench_roads_li`` for
Liechtenstein) with its own state folder (``bench/output/roads-<name>``), and kept for
the next run (``--reimport`` imports again; ``--drop`` removes both at the end).

For each graph it starts ``locator serve`` on loopback (its own LOCATOR_STATE_DIR and
LOCATOR_OSRM_PORT, so serve starts the graph's own routing engines) and measures, one
client on one keep-alive connection, trips between random road vertices:

- local trips (at most 20 km in a straight line) and long ones (from the graph's
  south-west corner to its north-east one);
- (a) the API, ``GET /v1/route?mode=drive``; (b) the OSRM route call alone, the very
  request the API makes (the ceiling), alternated with (a) trip by trip; and, to show
  where the difference goes, both answers' sizes and what reading OSRM's JSON costs in
  Python;
- (c) plain ``pgr_dijkstra`` over the whole graph (``road_edge``'s drivable edges: the
  baseline, fewer trips: 3-4 s each on 2 million vertices) and, for context,
  pgr_dijkstra on the edges of the trip's bounding box grown by a margin.

Printed: p50 / p90 per case, the ratios API / OSRM and pgr / API from the same run,
and the issue's targets through the API on the large graph (local p50 <= 5 ms, long
p50 <= 20 ms). Two more parts hook in when their routes exist in the tree:
``rank=travel_time`` on nearest (:func:`measure_rank`) and ``/v1/isochrone``
(:func:`measure_isochrone`); each says so when it is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import osmium
from sqlalchemy import create_engine, text

from bench.common import bench_database, bench_env
from locator.geo import GEOD
from locator.settings import get_settings
from tests.support.cli import LOCATOR
from tests.support.database import drop_database
from tests.support.ports import free_port_pair
from tests.support.servers import serving as serving_api

OUTPUT = Path(__file__).parent / "output"
SOURCE = get_settings().osm_dir / "liechtenstein-2013-08-03.osm.pbf"

# per-copy id strides, above Liechtenstein's largest ids (its extract is renumbered:
# nodes 1..65,733, ways 1..7,121, relations 1..113); checked when tiling
NODE_STRIDE, WAY_STRIDE, RELATION_STRIDE = 100_000, 10_000, 1_000
LINKS_PER_NEIGHBOUR = 3
LINK_MAX_M = 10_000.0
"""Links between neighbouring copies: up to 3, the shortest candidate pairs, each at
most 10 km long (the shortest is kept whatever its length, so every pair is joined)."""
LINKABLE = {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential"}
LOCAL_MAX_M = 20_000.0


# --- the tiled extract ---------------------------------------------------------------
@dataclass
class _Extract:
    nodes: list[tuple[int, float, float, dict[str, str]]] = field(default_factory=list)
    ways: list[tuple[int, list[int], dict[str, str]]] = field(default_factory=list)
    relations: list[tuple[int, list[tuple[str, int, str]], dict[str, str]]] = field(
        default_factory=list
    )


def _read(pbf: Path) -> _Extract:
    data = _Extract()

    class Reader(osmium.SimpleHandler):
        def node(self, n: Any) -> None:
            data.nodes.append((n.id, n.location.lon, n.location.lat, dict(n.tags)))

        def way(self, w: Any) -> None:
            data.ways.append((w.id, [n.ref for n in w.nodes], dict(w.tags)))

        def relation(self, r: Any) -> None:
            members = [(m.type, m.ref, m.role) for m in r.members]
            data.relations.append((r.id, members, dict(r.tags)))

    Reader().apply_file(str(pbf))
    return data


def _linkable_nodes(data: _Extract) -> dict[int, tuple[float, float]]:
    """Nodes of two-way public roads: where a link between copies may end."""
    where = {i: (lon, lat) for i, lon, lat, _ in data.nodes}
    out = {}
    for _, refs, tags in data.ways:
        if tags.get("highway") not in LINKABLE or tags.get("oneway") in ("yes", "1", "-1"):
            continue
        if tags.get("access") in ("no", "private") or tags.get("junction") == "roundabout":
            continue
        out.update({r: where[r] for r in refs if r in where})
    return out


def _link_template(
    nodes: dict[int, tuple[float, float]], dlon: float, dlat: float
) -> list[tuple[int, int, float]]:
    """(node of a copy, node of its neighbour shifted by (dlon, dlat), metres): the
    shortest pairs between the copy's edge facing the neighbour and the neighbour's."""
    ids = list(nodes)
    if dlon:  # east: the copy's easternmost nodes against the neighbour's westernmost
        near = sorted(ids, key=lambda i: -nodes[i][0])[:400]
        far = sorted(ids, key=lambda i: nodes[i][0])[:400]
    else:  # north
        near = sorted(ids, key=lambda i: -nodes[i][1])[:400]
        far = sorted(ids, key=lambda i: nodes[i][1])[:400]
    pairs = []
    for a in near:
        for b in far:
            (lon1, lat1), (lon2, lat2) = nodes[a], nodes[b]
            _, _, metres = GEOD.inv(lon1, lat1, lon2 + dlon, lat2 + dlat)
            pairs.append((metres, a, b))
    pairs.sort()
    chosen: list[tuple[int, int, float]] = []
    spread = 0.15 * (max(v[1] for v in nodes.values()) - min(v[1] for v in nodes.values()))
    if not dlon:
        spread = 0.15 * (max(v[0] for v in nodes.values()) - min(v[0] for v in nodes.values()))
    axis = 1 if dlon else 0
    for metres, a, b in pairs:
        if (chosen and metres > LINK_MAX_M) or len(chosen) == LINKS_PER_NEIGHBOUR:
            break
        # spread along the shared edge, not three links side by side
        if all(abs(nodes[a][axis] - nodes[c][axis]) > spread for c, _, _ in chosen):
            chosen.append((a, b, metres))
    return chosen


def tile(source: Path, cols: int, rows: int, out: Path) -> dict[str, Any]:
    """Write ``cols x rows`` shifted copies of ``source`` joined by links, to ``out``;
    returns what was made (also written beside it as JSON)."""
    started = time.perf_counter()
    data = _read(source)
    if (
        max(n[0] for n in data.nodes) >= NODE_STRIDE
        or max(w[0] for w in data.ways) >= WAY_STRIDE
        or max((r[0] for r in data.relations), default=0) >= RELATION_STRIDE
    ):
        raise SystemExit(f"{source.name}: ids larger than the per-copy strides")
    # the copies' size: the road network's box (the extract's own box holds far-off
    # nodes of boundary relations, which would leave gaps between the copies' roads)
    where = {i: (lon, lat) for i, lon, lat, _ in data.nodes}
    roads = [where[x] for _, refs, tags in data.ways if "highway" in tags for x in refs]
    lons, lats = [p[0] for p in roads], [p[1] for p in roads]
    lon0, lat0 = min(lons), min(lats)
    width, height = max(lons) - lon0, max(lats) - lat0
    box = (lon0, lat0, lon0 + cols * width, lat0 + rows * height)
    if not (box[1] > -80 and box[3] < 80 and box[0] > -180 and box[2] < 180):
        raise SystemExit(f"the grid would leave plausible coordinates: {box}")
    linkable = _linkable_nodes(data)
    east = _link_template(linkable, width, 0.0)
    north = _link_template(linkable, 0.0, height)

    def number(c: int, r: int) -> int:
        return r * cols + c

    partial = out.with_suffix(".partial.pbf")
    partial.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(partial))
    mutable = osmium.osm.mutable
    try:
        for r in range(rows):
            for c in range(cols):
                off, dx, dy = number(c, r) * NODE_STRIDE, c * width, r * height
                for i, lon, lat, tags in data.nodes:
                    writer.add_node(
                        mutable.Node(id=i + off, location=(lon + dx, lat + dy), tags=tags)
                    )
        for t in range(cols * rows):
            noff, woff = t * NODE_STRIDE, t * WAY_STRIDE
            for i, refs, tags in data.ways:
                writer.add_way(mutable.Way(id=i + woff, nodes=[x + noff for x in refs], tags=tags))
        link_id, links = cols * rows * WAY_STRIDE, []
        link_tags = {"highway": "primary", "name": "bench tile link", "note": "bench.routing"}
        for r in range(rows):
            for c in range(cols):
                here = number(c, r) * NODE_STRIDE
                for template, neighbour in ((east, (c + 1, r)), (north, (c, r + 1))):
                    if neighbour[0] >= cols or neighbour[1] >= rows:
                        continue
                    there = number(*neighbour) * NODE_STRIDE
                    for a, b, metres in template:
                        link_id += 1
                        writer.add_way(
                            mutable.Way(id=link_id, nodes=[a + here, b + there], tags=link_tags)
                        )
                        links.append(metres)
        shift = {"n": NODE_STRIDE, "w": WAY_STRIDE, "r": RELATION_STRIDE}
        for t in range(cols * rows):
            for i, members, tags in data.relations:
                writer.add_relation(
                    mutable.Relation(
                        id=i + t * RELATION_STRIDE,
                        members=[
                            (kind, ref + t * shift[kind], role) for kind, ref, role in members
                        ],
                        tags=tags,
                    )
                )
    finally:
        writer.close()
    partial.rename(out)
    made = {
        "source": str(source),
        "grid": [cols, rows],
        "tile_deg": [round(width, 6), round(height, 6)],
        "bbox": [round(v, 5) for v in box],
        "nodes": len(data.nodes) * cols * rows,
        "ways": len(data.ways) * cols * rows + len(links),
        "links": len(links),
        "link_m": {
            "east": [round(m) for _, _, m in east],
            "north": [round(m) for _, _, m in north],
        },
        "bytes": out.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out.with_suffix(".json").write_text(json.dumps(made, indent=2))
    return made


def grid_for(vertices: int, per_copy: int) -> tuple[int, int]:
    """Columns and rows of copies for about ``vertices`` road vertices, the grid about as
    wide as it is tall in kilometres (a copy of Liechtenstein's roads is 13.3 km wide
    and 28.0 km tall)."""
    copies = vertices / per_copy
    rows = max(1, round(math.sqrt(copies * 13.3 / 28.0)))
    return max(1, round(copies / rows)), rows


def tiled_extract(cols: int, rows: int) -> tuple[Path, dict[str, Any]]:
    """The tiled file, made on first use and cached in bench/output."""
    OUTPUT.mkdir(exist_ok=True)
    out = OUTPUT / f"liechtenstein-tiled-{cols}x{rows}.osm.pbf"
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists():
        return out, json.loads(meta.read_text())
    print(f"tiling {SOURCE.name} {cols} x {rows} ...", flush=True)
    return out, tile(SOURCE, cols, rows, out)


# --- importing a graph: its own database, state folder and engine ports ---------------
@dataclass
class Network:
    name: str
    pbf: Path
    url: str
    state: Path
    import_report: dict[str, Any]
    vertices: int
    edges: int

    def env(self, osrm_port: int) -> dict[str, str]:
        return bench_env(
            self.url, LOCATOR_STATE_DIR=str(self.state), LOCATOR_OSRM_PORT=str(osrm_port)
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _graph_size(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        vertices = conn.execute(text("SELECT count(*) FROM road_vertex")).scalar_one()
        edges = conn.execute(text("SELECT count(*) FROM road_edge")).scalar_one()
    engine.dispose()
    return vertices, edges


def import_network(name: str, pbf: Path, database: str, reimport: bool = False) -> Network:
    """``locator roads import`` of ``pbf`` into ``database`` and ``bench/output/roads-
    <name>``, timed (wall clock, and the largest resident size of any program it ran);
    skipped when that file is already imported there."""
    url = bench_database(database)
    state = OUTPUT / f"roads-{name}"
    report_file = state / "bench-import.json"
    manifest = state / "roads" / "osrm" / "manifest.json"
    vertices, edges = _graph_size(url)
    if not reimport and report_file.exists() and manifest.exists() and vertices:
        report = json.loads(report_file.read_text())
        if json.loads(manifest.read_text())["source_sha256"] == report["sha256"]:
            return Network(name, pbf, url, state, report, vertices, edges)
    state.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOCATOR_DATABASE_URL": url, "LOCATOR_STATE_DIR": str(state)}
    subprocess.run([LOCATOR, "roads", "stop"], env=env, capture_output=True, check=False)
    print(f"importing {pbf.name} into {database} ...", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(
        [LOCATOR, "roads", "import", str(pbf)], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"locator roads import failed: {out.stderr.strip()}")
    made = json.loads(manifest.read_text())
    vertices, edges = _graph_size(url)
    report = {
        "file": str(pbf),
        "sha256": made["source_sha256"],
        "bytes": pbf.stat().st_size,
        "seconds": round(seconds, 1),
        "osrm_seconds": made["seconds"],
        "graph_seconds": round(seconds - sum(made["seconds"].values()), 1),
        "osrm_bytes": made["bytes"],
        # the largest resident size of any one program the import ran (ru_maxrss: KiB)
        "max_rss_gib": round(max(after.ru_maxrss, before.ru_maxrss) / 2**20, 2),
        "cpu_seconds": round(
            after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1
        ),
        "output": out.stdout.strip().splitlines()[-2:],
        "imported_at": made["imported_at"],
    }
    report_file.write_text(json.dumps(report, indent=2))
    return Network(name, pbf, url, state, report, vertices, edges)


# --- trips ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Trip:
    source: int  # road_vertex ids, for pgr_dijkstra
    target: int
    a: tuple[float, float]  # lon, lat
    b: tuple[float, float]
    crow_m: float


def _drivable_vertices(url: str) -> list[tuple[int, float, float]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT v.id, ST_X(v.geom), ST_Y(v.geom) FROM road_vertex v WHERE v.id IN "
                "(SELECT source FROM road_edge WHERE cost >= 0 "
                " UNION SELECT target FROM road_edge WHERE reverse_cost >= 0) ORDER BY v.id"
            )
        ).all()
    engine.dispose()
    return [(int(i), float(x), float(y)) for i, x, y in rows]


def _crow(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def sample_trips(url: str, osrm_url: str, count: int, kind: str, rng: random.Random) -> list[Trip]:
    """``count`` trips between drivable vertices that the drive engine connects (with
    the API's snap radius):
    ``local``, a random vertex and another at most 20 km from it in a straight line
    (and at least 500 m); ``long``, from the graph's south-west corner to its north-east
    one (the 5 % of vertices lowest and highest in lon/width + lat/height)."""
    vertices = _drivable_vertices(url)
    lons = [v[1] for v in vertices]
    lats = [v[2] for v in vertices]
    lon0, lat0 = min(lons), min(lats)
    w, h = max(lons) - lon0, max(lats) - lat0
    if kind == "long":
        order = sorted(vertices, key=lambda v: (v[1] - lon0) / w + (v[2] - lat0) / h)
        tail = max(1, len(order) // 20)
        starts, ends = order[:tail], order[-tail:]
    # a coarse grid of vertices, to find those within 20 km of an origin quickly
    cell = 0.2
    grid: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
    for v in vertices:
        grid.setdefault((int(v[1] / cell), int(v[2] / cell)), []).append(v)
    trips: list[Trip] = []
    tries = 0
    radius = get_settings().route_snap_radius_m  # as the API asks: the same snaps
    with httpx.Client(timeout=30) as osrm_client:
        while len(trips) < count:
            tries += 1
            if tries > count * 50:
                raise SystemExit(f"could not find {count} connected {kind} trips")
            if kind == "long":
                s, t = rng.choice(starts), rng.choice(ends)
            else:
                s = rng.choice(vertices)
                cx, cy = int(s[1] / cell), int(s[2] / cell)
                near = [
                    v
                    for dx in (-2, -1, 0, 1, 2)
                    for dy in (-1, 0, 1)
                    for v in grid.get((cx + dx, cy + dy), [])
                ]
                t = rng.choice(near)
            a, b = (s[1], s[2]), (t[1], t[2])
            crow = _crow(a, b)
            if kind == "local" and not 500 <= crow <= LOCAL_MAX_M:
                continue
            body = _get(
                osrm_client,
                f"{osrm_url}/route/v1/drive/{a[0]},{a[1]};{b[0]},{b[1]}",
                params={"overview": "false", "radiuses": f"{radius};{radius}"},
            ).json()
            if body.get("code") == "Ok":
                trips.append(Trip(s[0], t[0], a, b, crow))
    return trips


# --- measuring -----------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


RECONNECTS = [0]


def _get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    """GET on a kept-alive connection, once more on a new one if the server had closed
    it (osrm-routed ends a connection after 512 requests, or 5 s idle); counted."""
    try:
        return client.get(url, **kwargs)
    except httpx.RemoteProtocolError:
        RECONNECTS[0] += 1
        return client.get(url, **kwargs)


def _ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def _osrm_route_params(settings_radius: float) -> dict[str, str]:
    """What the API sends OSRM for a route (``locator.travel.route.route``)."""
    return {
        "overview": "full",
        "geometries": "geojson",
        "steps": "false",
        "radiuses": f"{settings_radius};{settings_radius}",
    }


def measure_routes(api_url: str, osrm_url: str, trips: list[Trip]) -> dict[str, list[float]]:
    """(a) the API and (b) the OSRM route call alone (the very request the API sends),
    one keep-alive client each, alternated trip by trip (which goes first alternating
    too). And where the difference goes on long routes: the size of both answers, and
    what reading OSRM's answer costs in Python (``json.loads``, which httpx's
    ``Response.json`` runs, and orjson's, for comparison)."""
    import orjson

    params = _osrm_route_params(get_settings().route_snap_radius_m)
    out: dict[str, list[float]] = {"api": [], "osrm": []}
    durations: list[float] = []
    api_bytes: list[float] = []
    bodies: list[bytes] = []
    with httpx.Client(timeout=60) as api, httpx.Client(timeout=60) as osrm_client:

        def call_api(t: Trip) -> float:
            ms, r = _ms(
                lambda: _get(
                    api,
                    f"{api_url}/v1/route",
                    params={"from": f"{t.a[1]},{t.a[0]}", "to": f"{t.b[1]},{t.b[0]}"},
                )
            )
            if r.status_code != 200 or r.json()["method"] != "osrm":
                raise SystemExit(f"the API answered {r.status_code}: {r.text[:300]}")
            durations.append(float(r.json()["duration_s"]))
            api_bytes.append(float(len(r.content)))
            return ms

        def call_osrm(t: Trip) -> float:
            path = f"{osrm_url}/route/v1/drive/{t.a[0]},{t.a[1]};{t.b[0]},{t.b[1]}"
            ms, r = _ms(lambda: _get(osrm_client, path, params=params))
            assert r.json()["code"] == "Ok", r.text[:300]
            if len(bodies) < 100:
                bodies.append(r.content)
            return ms

        for t in trips[:20]:  # warm-up: caches, connections, the servers' first requests
            call_api(t), call_osrm(t)
        durations.clear()
        api_bytes.clear()
        bodies.clear()
        for i, t in enumerate(trips):
            if i % 2:
                out["api"].append(call_api(t))
                out["osrm"].append(call_osrm(t))
            else:
                out["osrm"].append(call_osrm(t))
                out["api"].append(call_api(t))
    out["route_duration_s"] = durations
    out["api_bytes"] = api_bytes
    out["osrm_bytes"] = [float(len(b)) for b in bodies]
    out["json_loads_ms"] = [_ms(lambda b=b: json.loads(b))[0] for b in bodies]  # type: ignore[misc]
    out["orjson_loads_ms"] = [_ms(lambda b=b: orjson.loads(b))[0] for b in bodies]  # type: ignore[misc]
    return out


PGR_WHOLE = (
    "SELECT agg_cost FROM pgr_dijkstra("
    "'SELECT id, source, target, cost, reverse_cost FROM road_edge "
    "WHERE cost >= 0 OR reverse_cost >= 0', "
    ":s, :t, directed => true) ORDER BY seq DESC LIMIT 1"
)
PGR_BOX = (
    "SELECT agg_cost FROM pgr_dijkstra("
    "format('SELECT id, source, target, cost, reverse_cost FROM road_edge "
    "WHERE (cost >= 0 OR reverse_cost >= 0) "
    "AND geom && ST_Expand(ST_MakeEnvelope(%s, %s, %s, %s, 4326), %s)', "
    ":x0, :y0, :x1, :y1, :margin), :s, :t, directed => true) ORDER BY seq DESC LIMIT 1"
)


def measure_pgr(url: str, trips: list[Trip], count: int) -> dict[str, list[float]]:
    """(c) pgr_dijkstra over the whole drivable graph (the edges only walkable left
    out), and over the trip's box grown by 0.05
    degrees plus a tenth of its larger side; the travel times, for a sanity check."""
    engine = create_engine(url)
    out: dict[str, list[float]] = {"whole": [], "box": [], "whole_cost_s": [], "box_missed": []}
    with engine.connect() as conn:
        conn.execute(text("SELECT 1 FROM pgr_version()"))
        for i, t in enumerate(trips[:count]):
            whole = {"s": t.source, "t": t.target}
            started = time.perf_counter()
            cost = conn.execute(text(PGR_WHOLE), whole).scalar()
            out["whole"].append((time.perf_counter() - started) * 1000)
            out["whole_cost_s"].append(float(cost) if cost is not None else math.nan)
            x0, x1 = sorted((t.a[0], t.b[0]))
            y0, y1 = sorted((t.a[1], t.b[1]))
            box = {**whole, "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                   "margin": 0.05 + 0.1 * max(x1 - x0, y1 - y0)}  # fmt: skip
            started = time.perf_counter()
            cost = conn.execute(text(PGR_BOX), box).scalar()
            ms = (time.perf_counter() - started) * 1000
            out["box"].append(ms)
            if cost is None:
                out["box_missed"].append(float(i))
    engine.dispose()
    return out


# --- hooks for the parts of issue 10 landing beside this one --------------------------
BENCH_AGENCY_ID, BENCH_POINT_ID0 = 990_001, 990_000_000
BENCH_REF = "bench.routing"


def insert_bench_points(
    url: str, vertices: list[tuple[int, float, float]], count: int, rng: random.Random
) -> int:
    """``count`` service points at random drivable vertices of the graph (moved up to
    about 20 m), into the bench's own database, marked as bench data: agency
    ``BENCH-ROUTING``, source ``generated``, external_ref ``bench.routing:<n>``, named
    "bench point <n>". The registry is Thai and the graph is not; the previous bench
    points are replaced."""
    rows = []
    for n, (_, lon, lat) in enumerate(rng.sample(vertices, count)):
        rows.append(
            {
                "id": BENCH_POINT_ID0 + n,
                "name": f"bench point {n}",
                "ref": f"{BENCH_REF}:{n}",
                "lon": lon + rng.uniform(-2e-4, 2e-4),
                "lat": lat + rng.uniform(-1.5e-4, 1.5e-4),
            }
        )
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_point WHERE agency_id = :a"), {"a": BENCH_AGENCY_ID})
        conn.execute(
            text(
                "INSERT INTO agency (id, code, name_th, name_en, level) VALUES "
                "(:a, 'BENCH-ROUTING', 'bench', 'bench.routing points', 'bench') "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {"a": BENCH_AGENCY_ID},
        )
        conn.execute(
            text(
                "INSERT INTO service_point (id, agency_id, kind, name_th, name_en, geog, "
                "source, external_ref) VALUES (:id, :a, 'district_office', :name, :name, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 'generated', :ref)"
            ),
            [{**r, "a": BENCH_AGENCY_ID} for r in rows],
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE service_point"))
    engine.dispose()
    return len(rows)


def api_has(api_url: str, path: str, parameter: str | None = None) -> dict[str, Any] | None:
    """The OpenAPI operation of GET ``path`` on the running server (None when it has no
    such route, or the route has no ``parameter``)."""
    doc = httpx.get(f"{api_url}/openapi.json", timeout=30).json()
    operation = doc.get("paths", {}).get(path, {}).get("get")
    if operation is None:
        return None
    names = {p["name"] for p in operation.get("parameters", [])}
    if parameter is not None and parameter not in names:
        return None
    return dict(operation)


def measure_rank(
    api_url: str, origins: list[tuple[float, float]], k: int = 10
) -> dict[str, list[float]] | str:
    """HOOK (issue 10, travel-time ranking): nearest-k with and without
    ``rank=travel_time`` (the k nearest re-ranked by one OSRM table call), alternated
    origin by origin on one keep-alive connection; the bench's own points must lie in
    the graph's area (:func:`insert_bench_points`). A string: why it was skipped."""
    operation = api_has(api_url, "/v1/points/nearest", "rank")
    if operation is None:
        return "skipped: GET /v1/points/nearest has no rank parameter in this tree"
    out: dict[str, list[float]] = {"distance": [], "travel_time": []}
    with httpx.Client(timeout=30) as client:

        def call(lon: float, lat: float, rank: str | None) -> float:
            params: dict[str, Any] = {"lat": lat, "lon": lon, "k": k}
            if rank:
                params |= {"rank": rank, "mode": "drive"}
            ms, r = _ms(lambda: _get(client, f"{api_url}/v1/points/nearest", params=params))
            body = r.json()
            if r.status_code != 200 or body["count"] != k:
                raise SystemExit(f"nearest answered {r.status_code}: {r.text[:300]}")
            if rank and body["ranking"].get("method") != "osrm":
                raise SystemExit(f"nearest was not ranked by the engine: {body['ranking']}")
            return ms

        for lon, lat in origins[:20]:
            call(lon, lat, None), call(lon, lat, "travel_time")
        for i, (lon, lat) in enumerate(origins):
            for rank in (None, "travel_time") if i % 2 else ("travel_time", None):
                out[rank or "distance"].append(call(lon, lat, rank))
    return out


ISOCHRONE_MINUTES = (5, 15, 30)
ISOCHRONE_TARGET_MS = 50.0
"""Issue 10: a 15-minute drive isochrone within 50 ms (p50) through the API."""


def measure_isochrone(
    api_url: str, origins: list[tuple[float, float]]
) -> dict[str, list[float]] | str:
    """HOOK (issue 10, isochrones): GET /v1/isochrone for 5, 15 and 30 minutes by car,
    from each origin, one keep-alive connection. Its parameters are read from the
    server's OpenAPI document (the origin as lat and lon or as "lat,lon", the minutes,
    the mode); a string: why it was skipped."""
    operation = api_has(api_url, "/v1/isochrone")
    if operation is None:
        return "skipped: no GET /v1/isochrone in this tree"
    names = {p["name"]: p for p in operation.get("parameters", [])}
    minutes_name = next(
        (n for n in ("minutes", "time_min", "max_minutes", "duration_min", "time") if n in names),
        None,
    )
    origin_names = [n for n in ("from", "origin", "at") if n in names]
    if minutes_name is None or not ({"lat", "lon"} <= set(names) or origin_names):
        return f"skipped: /v1/isochrone's parameters are not understood: {sorted(names)}"
    out: dict[str, list[float]] = {str(m): [] for m in ISOCHRONE_MINUTES}
    reached: dict[str, list[float]] = {}
    with httpx.Client(timeout=60) as client:

        def call(lon: float, lat: float, minutes: int) -> float:
            params: dict[str, Any] = {minutes_name: minutes}
            if {"lat", "lon"} <= set(names):
                params |= {"lat": lat, "lon": lon}
            else:
                params[origin_names[0]] = f"{lat},{lon}"
            if "mode" in names:
                params["mode"] = "drive"
            ms, r = _ms(lambda: _get(client, f"{api_url}/v1/isochrone", params=params))
            if r.status_code != 200:
                raise SystemExit(f"isochrone answered {r.status_code}: {r.text[:300]}")
            props = r.json().get("properties", {})
            if props.get("method") == "straight_line":
                raise SystemExit(f"the isochrone was an estimate: {props.get('estimate')}")
            reached.setdefault(str(minutes), []).append(float(props.get("reached_vertices", 0)))
            return ms

        for lon, lat in origins[:5]:
            call(lon, lat, 15)
        reached.clear()
        for lon, lat in origins:
            for m in ISOCHRONE_MINUTES:
                out[str(m)].append(call(lon, lat, m))
    out |= {f"reached_vertices_{m}": v for m, v in reached.items()}
    return out


# --- running a graph's servers -------------------------------------------------------
@contextmanager
def serving(network: Network) -> Iterator[tuple[str, str]]:
    """``locator serve`` (2 workers) over the network's database and state folder, which
    starts the network's own routing engines; (API URL, drive engine URL). Both are
    stopped after."""
    osrm_port = free_port_pair()
    env = network.env(osrm_port)
    started = time.perf_counter()
    try:
        with serving_api(env, workers=2, log=network.state / "serve.log", timeout_s=300) as api:
            print(f"  server and engines up in {time.perf_counter() - started:.1f} s", flush=True)
            yield api.url, f"http://127.0.0.1:{osrm_port}"
    finally:
        subprocess.run([LOCATOR, "roads", "stop"], env=env, capture_output=True, check=False)


def _engine_rss_gib(state: Path) -> float:
    """Resident memory of the network's two osrm-routed processes."""
    total = 0
    for pid_file in (state / "run").glob("osrm-*.pid"):
        try:
            status = Path(f"/proc/{pid_file.read_text().strip()}/status").read_text()
        except OSError:
            continue
        total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
    return total / 2**20


# --- the run -------------------------------------------------------------------------
TARGETS_MS = {"local": 5.0, "long": 20.0}
"""Issue 10's targets through the API on the 2-million-vertex graph: route p50."""


def _row(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:44s}  (none)"
    return (
        f"  {label:44s} n={len(values):4d}  p50 {statistics.median(values):9.2f}  "
        f"p90 {pct(values, 0.9):9.2f} ms"
    )


def bench_network(network: Network, args: argparse.Namespace, big: bool) -> dict[str, Any]:
    rng = random.Random(args.seed)
    report: dict[str, Any] = {
        "network": network.name,
        "vertices": network.vertices,
        "edges": network.edges,
        "import": network.import_report,
    }
    vertices = _drivable_vertices(network.url)
    report["drivable_vertices"] = len(vertices)
    points = insert_bench_points(network.url, vertices, max(300, len(vertices) // 100), rng)
    report["bench_points"] = points
    pgr_count = args.pgr if big else max(args.pgr, 60)
    with serving(network) as (api_url, osrm_url):
        report["engine_rss_gib"] = round(_engine_rss_gib(network.state), 2)
        for kind in ("local", "long"):
            trips = sample_trips(network.url, osrm_url, args.requests, kind, rng)
            routes = measure_routes(api_url, osrm_url, trips)
            pgr = measure_pgr(network.url, trips, pgr_count)
            agree = [
                c / d
                for c, d in zip(pgr["whole_cost_s"], routes["route_duration_s"], strict=False)
                if d > 0 and math.isfinite(c)
            ]
            report[kind] = {
                "crow_km_p50": statistics.median(t.crow_m for t in trips) / 1000,
                "duration_min_p50": statistics.median(routes["route_duration_s"]) / 60,
                **{k: v for k, v in routes.items() if k != "route_duration_s"},
                "pgr_whole": pgr["whole"],
                "pgr_box": pgr["box"],
                "pgr_box_missed": len(pgr["box_missed"]),
                "pgr_over_osrm_time_p50": statistics.median(agree) if agree else None,
            }
            print(f"  {kind}: done", flush=True)
        origins = [(v[1], v[2]) for v in rng.sample(vertices, args.rank_requests)]
        report["rank"] = measure_rank(api_url, origins)
        report["isochrone"] = measure_isochrone(api_url, origins[: args.isochrone_origins])
    return report


def print_report(r: dict[str, Any], big: bool) -> None:
    imp = r["import"]
    print(f"\n== {r['network']}: {r['vertices']:,} road_vertex ({r['drivable_vertices']:,} "
          f"by car), {r['edges']:,} road_edge ==")  # fmt: skip
    print(
        f"  import {imp['seconds']:.1f} s (OSRM per mode {imp['osrm_seconds']}, graph into "
        f"PostGIS {imp['graph_seconds']:.1f} s), CPU {imp['cpu_seconds']:.0f} s, largest "
        f"process {imp['max_rss_gib']:.2f} GiB; OSRM data {imp['osrm_bytes']}; engines "
        f"resident {r['engine_rss_gib']:.2f} GiB"
    )
    for kind in ("local", "long"):
        c = r[kind]
        print(
            f" {kind} trips: straight line p50 {c['crow_km_p50']:.1f} km, "
            f"drive p50 {c['duration_min_p50']:.1f} min"
        )
        print(_row("(a) API GET /v1/route", c["api"]))
        print(_row("(b) OSRM route call alone (ceiling)", c["osrm"]))
        print(
            f"  answers: OSRM {statistics.median(c['osrm_bytes']) / 1024:.0f} KiB, API "
            f"{statistics.median(c['api_bytes']) / 1024:.0f} KiB (p50); reading OSRM's in "
            f"Python: json.loads {statistics.median(c['json_loads_ms']):.2f} ms, orjson "
            f"{statistics.median(c['orjson_loads_ms']):.2f} ms (p50)"
        )
        print(_row("(c) pgr_dijkstra, whole graph (baseline)", c["pgr_whole"]))
        print(_row(f"    pgr_dijkstra, box ({c['pgr_box_missed']} no path)", c["pgr_box"]))
        api, osrm_ = statistics.median(c["api"]), statistics.median(c["osrm"])
        whole = statistics.median(c["pgr_whole"])
        box = statistics.median(c["pgr_box"])
        print(
            f"  ratios (p50): API / OSRM {api / osrm_:.2f}x; pgr whole / API {whole / api:.2f}x;"
            f" pgr box / API {box / api:.2f}x; pgr travel time / OSRM's "
            f"{c['pgr_over_osrm_time_p50'] or float('nan'):.3f}"
        )
        if big:
            met = "met" if api <= TARGETS_MS[kind] else "NOT met"
            print(f"  target {kind} p50 <= {TARGETS_MS[kind]:g} ms through the API: {met} "
                  f"({api:.2f} ms)")  # fmt: skip
    rank = r["rank"]
    if isinstance(rank, str):
        print(f" rank=travel_time: {rank}")
    else:
        print(f" nearest k=10 ({r['bench_points']:,} bench points in the graph's area):")
        print(_row("by distance", rank["distance"]))
        print(_row("rank=travel_time (one OSRM table call)", rank["travel_time"]))
        ratio = statistics.median(rank["travel_time"]) / statistics.median(rank["distance"])
        print(f"  ratio (p50) travel_time / distance: {ratio:.2f}x")
    iso = r["isochrone"]
    if isinstance(iso, str):
        print(f" isochrone: {iso}")
    else:
        print(" isochrone, drive, through the API:")
        for m in ISOCHRONE_MINUTES:
            reach = statistics.median(iso.get(f"reached_vertices_{m}") or [0])
            print(_row(f"{m} min (reaching {reach:,.0f} vertices, median)", iso[str(m)]))
        if big:
            p50 = statistics.median(iso["15"])
            met = "met" if p50 <= ISOCHRONE_TARGET_MS else "NOT met"
            print(f"  target 15 min p50 <= {ISOCHRONE_TARGET_MS:g} ms: {met} ({p50:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vertices", type=int, default=2_000_000,
                        help="road_vertex rows wanted in the tiled graph: the grid is chosen "
                        "from Liechtenstein's own count after its import")  # fmt: skip
    parser.add_argument("--grid", default=None, help="cols x rows instead (e.g. 32x15)")
    parser.add_argument("--requests", type=int, default=400, help="trips per case (API, OSRM)")
    parser.add_argument("--pgr", type=int, default=10,
                        help="pgr_dijkstra trips per case on the tiled graph (60 or more on "
                        "Liechtenstein)")  # fmt: skip
    parser.add_argument("--rank-requests", type=int, default=200)
    parser.add_argument("--isochrone-origins", type=int, default=30)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--only", choices=("liechtenstein", "tiled"), default=None)
    parser.add_argument("--prepare-only", action="store_true",
                        help="make and import the graphs, measure nothing")  # fmt: skip
    parser.add_argument("--reimport", action="store_true", help="import both graphs again")
    parser.add_argument("--drop", action="store_true",
                        help="drop the bench databases and state folders at the end")  # fmt: skip
    args = parser.parse_args()
    OUTPUT.mkdir(exist_ok=True)
    networks: list[tuple[Network, bool]] = []
    li = import_network("liechtenstein", SOURCE, "locator_bench_roads_li", args.reimport)
    if args.only in (None, "liechtenstein"):
        networks.append((li, False))
    if args.grid:
        cols, rows = (int(x) for x in args.grid.split("x"))
    else:
        cols, rows = grid_for(args.vertices, li.vertices)
    if args.only in (None, "tiled"):
        pbf, made = tiled_extract(cols, rows)
        print(
            f"tiled extract: {made['grid'][0]} x {made['grid'][1]} copies of "
            f"{made['tile_deg'][0]:.4f} x {made['tile_deg'][1]:.4f} degrees, box "
            f"{made['bbox']}, {made['nodes']:,} nodes, {made['ways']:,} ways of which "
            f"{made['links']:,} links (east {made['link_m']['east']} m, north "
            f"{made['link_m']['north']} m), {made['bytes'] / 2**20:.0f} MiB, made in "
            f"{made['seconds']:.0f} s",
            flush=True,
        )
        tiled = import_network(f"tiled-{cols}x{rows}", pbf, "locator_bench_roads", args.reimport)
        networks.append((tiled, True))
    for network, _ in networks:
        print(f"{network.name}: {network.vertices:,} road_vertex, {network.edges:,} road_edge; "
              f"import {network.import_report}", flush=True)  # fmt: skip
    if args.prepare_only:
        return
    reports = []
    try:
        for network, big in networks:
            print(f"\nbenchmarking {network.name} ({network.vertices:,} vertices) ...", flush=True)
            reports.append(bench_network(network, args, big))
    finally:
        if args.drop:
            for network, _ in networks:
                drop_database(network.url)
                shutil.rmtree(network.state, ignore_errors=True)
    for r, (_, big) in zip(reports, networks, strict=False):
        print_report(r, big)
    out = OUTPUT / f"routing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(reports, indent=1))
    print(f"\nkept-alive connections the server had closed (a request sent again): "
          f"{RECONNECTS[0]}")  # fmt: skip
    print(f"all samples: {out}")


if __name__ == "__main__":
    main()
