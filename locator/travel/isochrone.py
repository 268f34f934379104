"""Isochrones: the area reachable from a place within so many minutes, by car or on foot,
on the road graph (``road_vertex``, ``road_edge``: ``locator.travel.roads``), held in memory
by ``locator.travel.graph``.

How one is computed (``isochrone``):

1. The origin is snapped to the nearest point of a road usable in the mode (a GiST
   nearest-neighbour query on ``road_edge``; the same query reads the graph's stamp).
   Farther than ``settings.route_snap_radius_m`` is a mistake to name (422 saying how
   far); farther than ``settings.route_coverage_m``, or no graph imported at all, is a
   place no imported network covers: the answer is then a circle at the straight-line
   speeds of ``locator.travel.estimate``, labelled ``straight_line``, as ``/v1/route`` answers a
   labelled straight line. As OSRM does, a snap prefers a road of the network's large
   connected parts over a stray fragment (a private yard's loop) when both are in reach.
2. A bounded Dijkstra (``scipy.sparse.csgraph.dijkstra`` with ``limit``) runs from the
   snapped point: a virtual vertex whose two edges lead to the snapped edge's ends at the
   part of its cost that remains (one way only, where the edge is one-way).
3. The polygon: the reached vertices, the origin, and points every grid cell along each
   edge leaving a reached vertex as far as the time left carries (the frontier inside
   partly reached edges; long edges filled in), marked on a grid sized to the area
   (``GRID_CELLS`` across). The cells are grown by ``MARGIN_CELLS``, then closed
   (dilated and eroded by a disk of ``CLOSE_CELLS``): a concave hull whose edges are at
   most about twice the disk, computed on the grid, so gaps between neighbouring streets
   are filled while the coast, a harbour and unreached land are not spanned. Pockets the
   area rings round are filled unless larger than ``HOLE_CELLS`` (then they stay holes),
   and the outline is traced and simplified within ``SMOOTH_CELLS``. Every reached
   vertex and frontier point lies inside (the margin is larger than the smoothing); the
   area exceeds the reach by about ``MARGIN_CELLS`` cells (1-2 % of its width). On the
   grid this costs the same whatever the number of points (GEOS' concave hull needs
   milliseconds per thousand points), and the closing is a length, where GEOS' ``ratio``
   is a share of its triangulation's edge lengths: the same ratio spans a harbour in one
   place and not in another.
"""

from __future__ import annotations

import math
import queue
from typing import Any, Literal

import numpy as np
import shapely
import shapely.affinity
from numpy.typing import NDArray
from scipy import ndimage  # type: ignore[import-untyped]
from scipy.sparse.csgraph import dijkstra  # type: ignore[import-untyped]

from locator.db.engine import Executor
from locator.errors import Busy, InvalidInput
from locator.geo import EARTH_RADIUS_M, GEOD
from locator.settings import Settings
from locator.travel import estimate
from locator.travel.graph import LOAD_WAIT_S, Floats, Ints, ModeGraph, RoadGraph, graph_for
from locator.travel.modes import Mode
from locator.travel.snapping import Snap, nearest_edges, on_edge

Method = Literal["road_graph", "straight_line"]

GRID_CELLS = 160
"""The grid the area is drawn on: cells across the reached area's longer side."""
MIN_CELL_M = 8.0
CLOSE_CELLS = 4
"""Gaps narrower than twice this many cells (between neighbouring streets) are closed;
wider ones (water, unreached land) stay open."""
MARGIN_CELLS = 2
"""Cells added around every cell reached: the reached points lie at least this far
inside the area's cells, so that rounding the outline off leaves them inside."""
HOLE_CELLS = 200
"""Unreached pockets enclosed by the area and smaller than this many cells are filled."""
SMOOTH_CELLS = 1.2
"""The rounded outline is then simplified within this many cells (its steps of one cell
become straight lines): with the rounding, less than ``MARGIN_CELLS``."""

_ROAD_WORD: dict[Mode, str] = {"drive": "road", "walk": "road or path usable on foot"}


# --- the answer -------------------------------------------------------------------------
def isochrone(
    settings: Settings, db: Executor, lat: float, lon: float, minutes: float, mode: Mode
) -> dict[str, Any]:
    """The area reachable from (``lat``, ``lon``) within ``minutes`` by ``mode``: a GeoJSON
    Feature (a Polygon) whose properties say how it was computed."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and math.isfinite(minutes) and minutes > 0):
        raise InvalidInput("lat, lon: latitude is -90..90 and longitude -180..180; minutes > 0")
    for _ in range(3):
        key, candidates = nearest_edges(db, lat, lon, mode)
        if not candidates:
            return circle(lat, lon, minutes, mode, _why_none(graph_for(db, key), mode))
        nearest = float(candidates[0]["distance_m"])
        if nearest > settings.route_coverage_m:
            return circle(
                lat,
                lon,
                minutes,
                mode,
                f"no imported road network covers this place (the nearest "
                f"{_ROAD_WORD[mode]} is {nearest / 1000:.1f} km away, more than "
                f"{settings.route_coverage_m:g} m)",
            )
        radius = settings.route_snap_radius_m
        if nearest > radius:
            raise InvalidInput(
                f"lat, lon: the nearest {_ROAD_WORD[mode]} is {nearest:.0f} m away, more "
                f"than the {radius:g} m allowed; choose a place nearer a road",
                parameter="lat",
                snap_distance_m=round(nearest, 1),
                max_snap_distance_m=radius,
            )
        graph = graph_for(db, key)
        if graph.key != key:
            continue  # an import committed between the snap and the read: snap again
        snaps = [on_edge(r, mode) for r in candidates if float(r["distance_m"]) <= radius]
        part = graph.modes[mode]
        snap = next((s for s in snaps if part.big[s.source] or part.big[s.target]), snaps[0])
        return reach(graph, mode, snap, lat, lon, minutes)
    raise Busy("the road network is being re-imported; try again in a moment")


def _why_none(graph: RoadGraph, mode: Mode) -> str:
    if not graph.modes or graph.empty:
        return "no road network is imported"
    if mode == "walk":
        return (
            "the imported road network has no ways usable on foot (it was imported before "
            "walking was); run `locator roads import` again"
        )
    return "the imported road network has no roads usable by car"


def reach(
    graph: RoadGraph, mode: Mode, snap: Snap, lat: float, lon: float, minutes: float
) -> dict[str, Any]:
    """The bounded Dijkstra from ``snap`` and the polygon around what it reached."""
    part = graph.modes[mode]
    seconds = minutes * 60.0
    try:
        slot = part.slots.get(timeout=LOAD_WAIT_S)
    except queue.Empty:
        raise Busy("every isochrone slot is in use; try again in a moment") from None
    try:
        entries = part.slot_entries(slot)
        heads = [snap.target, snap.source]
        offsets = [snap.to_target_s, snap.to_source_s]
        part.matrix.indices[entries] = [
            h if o is not None else slot for h, o in zip(heads, offsets, strict=True)
        ]
        part.matrix.data[entries] = [max(o, 1e-6) if o is not None else 1.0 for o in offsets]
        dist = dijkstra(part.matrix, directed=True, indices=slot, limit=seconds)
    finally:
        part.slots.put(slot)
    dist = dist[: part.vertices]
    reached = np.flatnonzero(dist <= seconds)
    polygon = _polygon(graph, part, dist, reached, seconds, snap, lat, lon)
    return _feature(
        polygon,
        method="road_graph",
        mode=mode,
        minutes=minutes,
        origin=(lat, lon),
        snapped={"lat": round(snap.lat, 7), "lon": round(snap.lon, 7)},
        snap_distance_m=round(snap.distance_m, 1),
        reached_vertices=len(reached),
        estimate=None,
    )


def _polygon(
    graph: RoadGraph,
    part: ModeGraph,
    dist: Floats,
    reached: Ints,
    seconds: float,
    snap: Snap,
    lat: float,
    lon: float,
) -> shapely.Polygon:
    # a local plane around the origin, in metres (equirectangular: affine in lon/lat, so
    # what is inside here is inside in degrees too)
    kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat))
    ky = math.radians(1) * EARTH_RADIUS_M
    matrix = part.matrix
    # every edge out of a reached vertex, and how far along it the time left carries
    starts, ends = matrix.indptr[reached], matrix.indptr[reached + 1]
    counts = (ends - starts).astype(np.int64)
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    at = np.arange(int(counts.sum())) + shift
    tails = np.repeat(reached, counts)
    heads = matrix.indices[at].astype(np.int64)
    share = np.minimum((seconds - dist[tails]) / matrix.data[at], 1.0)
    # and the first steps: from the snapped point along its road (as far as the time
    # carries) and from the origin to its road; the origin is the last start
    sx, sy = (snap.lon - lon) * kx, (snap.lat - lat) * ky
    firsts = [(h, o) for h, o in ((snap.target, snap.to_target_s), (snap.source, snap.to_source_s))
              if o is not None]  # fmt: skip
    tx = np.concatenate([(graph.lon[tails] - lon) * kx, [sx] * len(firsts), [0.0]])
    ty = np.concatenate([(graph.lat[tails] - lat) * ky, [sy] * len(firsts), [0.0]])
    ends = np.array([h for h, _ in firsts], dtype=np.int64)
    hx = np.concatenate([(graph.lon[heads] - lon) * kx, (graph.lon[ends] - lon) * kx, [sx]])
    hy = np.concatenate([(graph.lat[heads] - lat) * ky, (graph.lat[ends] - lat) * ky, [sy]])
    first_shares = [min(seconds / o, 1.0) if o > 0 else 1.0 for _, o in firsts]
    share = np.concatenate([share, first_shares, [1.0]])
    ex, ey = tx + share * (hx - tx), ty + share * (hy - ty)
    xs, ys = np.concatenate([tx, ex]), np.concatenate([ty, ey])
    cell = max(MIN_CELL_M, float(max(np.ptp(xs), np.ptp(ys))) / GRID_CELLS)
    # the segments reached, a point every cell along each: one chain of cells from the
    # origin to every place reached
    steps = np.floor(np.hypot(ex - tx, ey - ty) / cell).astype(np.int64)
    if steps.sum():
        which = np.repeat(np.arange(len(steps)), steps)
        k = np.arange(len(which)) - np.repeat(np.cumsum(steps) - steps, steps)
        t = (k + 1) / (steps[which] + 1)
        xs = np.concatenate([xs, tx[which] + t * (ex[which] - tx[which])])
        ys = np.concatenate([ys, ty[which] + t * (ey[which] - ty[which])])
    margin = CLOSE_CELLS + MARGIN_CELLS + 2
    x0, y0 = float(xs.min()) - margin * cell, float(ys.min()) - margin * cell
    gx = ((xs - x0) / cell).astype(np.int64)
    gy = ((ys - y0) / cell).astype(np.int64)
    mask = np.zeros((int(gy.max()) + margin + 1, int(gx.max()) + margin + 1), dtype=bool)
    mask[gy, gx] = True
    origin = len(tx) - 1  # (0, 0)
    mask = _area(mask, (int(gy[origin]), int(gx[origin])))
    shell, *holes = (ring * cell + [x0, y0] for ring in _outline(mask))
    polygon = shapely.Polygon(shell, holes).simplify(cell * SMOOTH_CELLS)
    polygon = shapely.transform(polygon, lambda c: c / [kx, ky] + [lon, lat])
    return _one_polygon(polygon)


_SQUARE = np.ones((2 * MARGIN_CELLS + 1, 2 * MARGIN_CELLS + 1), dtype=bool)
_DISK = np.hypot(*np.mgrid[-CLOSE_CELLS : CLOSE_CELLS + 1, -CLOSE_CELLS : CLOSE_CELLS + 1]) <= (
    CLOSE_CELLS + 0.5
)


def _area(mask: NDArray[np.bool_], origin: tuple[int, int]) -> NDArray[np.bool_]:
    """The cells of the area: those reached and their neighbours (``MARGIN_CELLS``, so
    that smoothing the outline leaves every point inside), gaps narrower than the disk
    closed, enclosed unreached pockets smaller than ``HOLE_CELLS`` filled (larger ones, a
    harbour or a lake ringed by roads, stay holes), as the one 4-connected part holding
    the origin, without pinches."""
    mask = ndimage.binary_dilation(mask, _SQUARE)
    mask = ndimage.binary_erosion(ndimage.binary_dilation(mask, _DISK), _DISK)
    for _ in range(8):
        # two cells touching at a corner only: fill the other two (no pinched outline)
        a, b, c, d = mask[:-1, :-1], mask[:-1, 1:], mask[1:, :-1], mask[1:, 1:]
        first, second = a & d & ~b & ~c, b & c & ~a & ~d
        if not (first.any() or second.any()):
            break
        fill = np.zeros_like(mask)
        fill[:-1, 1:] |= first
        fill[1:, :-1] |= first
        fill[:-1, :-1] |= second
        fill[1:, 1:] |= second
        mask |= fill
    holes, count = ndimage.label(ndimage.binary_fill_holes(mask) & ~mask)
    if count:
        small = np.bincount(holes.ravel())[1:] < HOLE_CELLS
        mask |= np.concatenate([[False], small])[holes]
    labels, _ = ndimage.label(mask)
    return np.asarray(labels == labels[origin], dtype=bool)


def _outline(mask: NDArray[np.bool_]) -> list[Floats]:
    """The rings of one 4-connected part without pinches, as grid vertex coordinates
    (x, y), rounded off: the cells' edges between in and out, oriented with the inside
    on their left (so the shell runs counter-clockwise, holes clockwise), each leaving
    the vertex where the one before it ends. The shell first."""
    width = mask.shape[1]
    padded = np.pad(mask, 1)
    inside = padded[1:-1, 1:-1]
    y, x = np.nonzero(inside & ~padded[:-2, 1:-1])  # bottom: (x, y) -> (x+1, y)
    edges = [(x, y, x + 1, y)]
    y, x = np.nonzero(inside & ~padded[1:-1, 2:])  # right: (x+1, y) -> (x+1, y+1)
    edges.append((x + 1, y, x + 1, y + 1))
    y, x = np.nonzero(inside & ~padded[2:, 1:-1])  # top: (x+1, y+1) -> (x, y+1)
    edges.append((x + 1, y + 1, x, y + 1))
    y, x = np.nonzero(inside & ~padded[1:-1, :-2])  # left: (x, y+1) -> (x, y)
    edges.append((x, y + 1, x, y))
    sx, sy, ex, ey = (np.concatenate([e[i] for e in edges]) for i in range(4))
    start = sy * (width + 1) + sx
    order = np.argsort(start)
    following = order[np.searchsorted(start[order], ey * (width + 1) + ex)].tolist()
    seen = bytearray(len(following))
    rings: list[Floats] = []
    for first in range(len(following)):
        if seen[first]:
            continue
        path = []
        j = first
        while not seen[j]:
            seen[j] = 1
            path.append(j)
            j = following[j]
        xy = np.column_stack([sx[path], sy[path]]).astype(np.float64)
        # only the corners (where the direction changes)
        before, after = np.roll(xy, 1, axis=0), np.roll(xy, -1, axis=0)
        corner = ((xy - before) != (after - xy)).any(axis=1)
        xy = xy[corner]
        rings.append(np.vstack([xy, xy[:1]]))
    # the shell is the one ring running counter-clockwise (positive area)
    areas = [float(np.dot(r[:-1, 0], r[1:, 1]) - np.dot(r[1:, 0], r[:-1, 1])) for r in rings]
    shell = int(np.argmax(areas))
    return [rings[shell], *(r for i, r in enumerate(rings) if i != shell)]


def _one_polygon(shape: shapely.Geometry) -> shapely.Polygon:
    shape = shapely.set_precision(shape, 1e-7)
    if isinstance(shape, shapely.Polygon):
        return shapely.orient_polygons(shape)
    parts = [p for p in shapely.get_parts(shape) if isinstance(p, shapely.Polygon)]
    return shapely.orient_polygons(max(parts, key=lambda p: p.area))


def on_the_globe(polygon: shapely.Polygon) -> shapely.Polygon | shapely.MultiPolygon:
    """The area as GeoJSON may carry it (RFC 7946, 3.1.9): longitudes within -180..180.
    A circle near the antimeridian (or round a pole) is drawn unwrapped around its
    origin, past 180; it is cut at the antimeridian and the part beyond is moved a turn
    back, so an area across it is a MultiPolygon of its two sides."""
    if polygon.is_empty:  # a reach shorter than the coordinates' precision (1e-7 degree)
        return polygon
    min_lon, _, max_lon, _ = polygon.bounds
    if min_lon >= -180 and max_lon <= 180:
        return polygon
    pieces = []
    for turn in range(math.floor((min_lon + 180) / 360), math.floor((max_lon + 180) / 360) + 1):
        west = 360.0 * turn - 180
        piece = shapely.intersection(polygon, shapely.box(west, -90, west + 360, 90))
        pieces.append(shapely.affinity.translate(piece, xoff=-360.0 * turn))
    # on one grid, so that the sides of the cut meet exactly and merge again (round a pole)
    merged = shapely.union_all(pieces, grid_size=1e-7)
    parts = [p for p in shapely.get_parts(merged) if isinstance(p, shapely.Polygon)]
    if len(parts) == 1:
        return shapely.orient_polygons(parts[0])
    return shapely.orient_polygons(shapely.MultiPolygon(parts))


def circle(lat: float, lon: float, minutes: float, mode: Mode, reason: str) -> dict[str, Any]:
    """The labelled estimate: a circle at the straight-line speed of ``mode``."""
    cap = estimate.circle(lat, lon, minutes, mode)
    polygon = _one_polygon(shapely.Polygon(cap.ring).buffer(0))
    return _feature(
        polygon,
        method="straight_line",
        mode=mode,
        minutes=minutes,
        origin=(lat, lon),
        snapped=None,
        snap_distance_m=0.0,
        reached_vertices=0,
        estimate={
            "reason": reason,
            "assumed_speed_kmh": cap.speed_kmh,
            "radius_m": round(cap.radius_m, 1),
            "note": "a circle at an assumed straight-line speed, not the reach on roads",
        },
        area_km2=cap.area_km2,
    )


def _feature(
    area: shapely.Polygon,
    *,
    method: Method,
    mode: Mode,
    minutes: float,
    origin: tuple[float, float],
    snapped: dict[str, float] | None,
    snap_distance_m: float,
    reached_vertices: int,
    estimate: dict[str, Any] | None,
    area_km2: float | None = None,
) -> dict[str, Any]:
    if area_km2 is None:
        area_km2 = abs(GEOD.geometry_area_perimeter(area)[0]) / 1e6
    shape = on_the_globe(area)
    polygons = [shape] if isinstance(shape, shapely.Polygon) else list(shape.geoms)
    polygons = [p for p in polygons if not p.is_empty]  # empty: no rings at all
    coordinates = [
        [np.round(shapely.get_coordinates(r), 7).tolist() for r in (p.exterior, *p.interiors)]
        for p in polygons
    ]
    return {
        "type": "Feature",
        "geometry": (
            {"type": "Polygon", "coordinates": coordinates[0] if coordinates else []}
            if len(coordinates) <= 1
            else {"type": "MultiPolygon", "coordinates": coordinates}
        ),
        "properties": {
            "method": method,
            "mode": mode,
            "minutes": minutes,
            "origin": {"lat": origin[0], "lon": origin[1]},
            "snapped": snapped,
            "snap_distance_m": snap_distance_m,
            "area_km2": round(area_km2, 4),
            "reached_vertices": reached_vertices,
            "estimate": estimate,
        },
    }
