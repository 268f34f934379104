"""Coverage gaps: how far (or how long) every populated place is from the nearest point
offering a service, aggregated by tambon, district and province, and where new sites would
close the gaps (issue 13).

The unit of analysis is the tambon: its 2021 population, placed at a representative point
inside it (``ST_PointOnSurface``, always inside the polygon, unlike a centroid). Tambons
with no population figure (or none living there) are left out: they carry no people to
count, and a centroid-less "gap" of nobody would only distort the worst-units lists.

Points are selected only through ``locator.query.filters`` (``PointFilter``/``conditions``), the
same SQL rule nearest, name search and the OGC items use, so "no-copy passport offices"
means the same set of points on the analyst's map as in the citizen's search.

Distance mode: the nearest selected point to each unit by a ``cKDTree`` on 3-D unit-sphere
coordinates (the chord is monotonic in the great-circle distance), then the exact
geodesic metres (``pyproj.Geod``, WGS84) for the few candidates that can win; ranked on the
spheroid, as the design's rule says ("distances are geodesic metres").

Travel-time mode: where a road network is loaded (``road_vertex``/``road_edge``), one
multi-source Dijkstra (``scipy.sparse.csgraph.dijkstra``, ``min_only``) over the graph that
``locator.travel.graph`` reads once per process, from every selected point's nearest road
vertex, bounded by the largest threshold; each unit gets the time of its own nearest
vertex. The time counted is the time on the roads between the two snapped vertices (by
car: from the unit to the point, one-way streets respected); the walk to the road is not.

Nothing here knows FastAPI: the CLI, the API and the notebooks call these functions.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
from scipy.sparse.csgraph import dijkstra  # type: ignore[import-untyped]
from scipy.spatial import cKDTree  # type: ignore[import-untyped]
from sqlalchemy import text

from locator import geo
from locator.db.engine import Executor
from locator.query.filters import PointFilter, check_codes, conditions
from locator.settings import Settings
from locator.travel import estimate
from locator.travel.graph import RoadGraph, current_graph
from locator.travel.modes import Mode
from locator.travel.snapping import to_vertices, vertex_snapper

Measure = Literal["distance", "travel_time"]
"""What a coverage run measures to the nearest point: geodesic km, or minutes on the roads."""
MAX_THRESHOLD = 1000
"""Km or minutes: beyond this a threshold is a typo, not a question."""


class ThresholdError(ValueError):
    """Thresholds no coverage can be computed for (the doors name the parameter)."""


Level = Literal["tambon", "district", "province"]
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

SPHEROID_SLACK = 1.01
"""The geodesic (WGS84) distance differs from the great-circle one on the mean sphere by
less than 0.7 % (the flattening, 1/298, bounds it): any point whose sphere distance is
within 1 % of the best geodesic distance found may still be nearer, and is checked."""
KNN = 4
"""Nearest points by the sphere measured exactly on the spheroid for every unit; the rare
unit whose 4th is still within ``SPHEROID_SLACK`` gets a ball query."""
UNIT_COLUMNS = [
    "code",
    "name_th",
    "name_en",
    "district_code",
    "province_code",
    "population",
]


# --- results -----------------------------------------------------------------------------
@dataclass
class CoverageResult:
    """One coverage run. ``units`` holds one row per populated tambon (EPSG:4326): code,
    name_th, name_en, district_code, province_code, population, distance_m (geodesic, to
    the nearest selected point), nearest_point_id, travel_s (NaN where no road network
    covers the unit, and in distance mode; inf where the graph reaches no selected point
    within the largest threshold), ``beyond_<t>`` per threshold (``beyond_10`` for 10 km
    or 10 minutes; in travel-time mode NA where travel_s is NaN: unknown, not covered),
    geometry = the representative point."""

    service: str | None
    no_copy: bool
    mode: Measure
    thresholds: list[float]
    units: gpd.GeoDataFrame
    points: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    """Why some numbers are missing (units or points off the road network, ...)."""
    areas: pd.DataFrame | None = None
    """Names and representative points of every district and province (for ``aggregate``
    without a database)."""

    @property
    def population(self) -> int:
        return int(self.units["population"].sum())

    @property
    def metric(self) -> str:
        """The column thresholds apply to: distance_m or travel_s."""
        return "distance_m" if self.mode == "distance" else "travel_s"

    def threshold_value(self, t: float) -> float:
        """A threshold in the metric's units: km -> metres, minutes -> seconds."""
        return t * 1000.0 if self.mode == "distance" else t * 60.0


def beyond_column(t: float) -> str:
    """``beyond_10`` for 10, ``beyond_7.5`` for 7.5."""
    return f"beyond_{t:g}"


@dataclass
class SitingResult:
    """Greedy maximal-coverage sites: ``sites`` in the order chosen (order, code, name_th,
    name_en, people_gained, geometry), the people within ``threshold`` of a point before
    and after adding them, and the population counted."""

    sites: gpd.GeoDataFrame
    threshold: float
    mode: Measure
    covered_before: int
    covered_after: int
    population: int


# --- the units: tambons, read once per process ---------------------------------------
@dataclass
class _Units:
    key: tuple[Any, ...]
    units: gpd.GeoDataFrame
    areas: pd.DataFrame


_units_cache: _Units | None = None
_units_lock = threading.Lock()

_UNITS_STAMP = (
    "SELECT current_database() AS db, count(*) AS n, "
    "coalesce(sum(population), 0) AS people, "
    "md5(coalesce(string_agg(code || ':' || coalesce(population, -1)::text, ',' "
    "ORDER BY code), '')) AS codes FROM admin_area"
)


def tambon_units(db: Executor) -> gpd.GeoDataFrame:
    """Every populated tambon at its representative point (``ST_PointOnSurface``), with
    its district and province codes. Read once per process and database (the reference
    data changes only with a reload, which the stamp notices); a copy is returned."""
    return _read_units(db).units.copy()


def _read_units(db: Executor) -> _Units:
    global _units_cache
    stamp = db.execute(text(_UNITS_STAMP)).one()
    key = tuple(stamp)
    cached = _units_cache
    if cached is not None and cached.key == key:
        return cached
    with _units_lock:
        rows = db.execute(
            text(
                "SELECT t.code, t.name_th, t.name_en, t.parent_code AS district_code, "
                "  d.parent_code AS province_code, t.population, "
                "  ST_X(ST_PointOnSurface(t.geom)) AS lon, ST_Y(ST_PointOnSurface(t.geom)) AS lat "
                "FROM admin_area t JOIN admin_area d ON d.code = t.parent_code "
                "WHERE t.level = 'tambon' AND t.population > 0 AND t.geom IS NOT NULL "
                "ORDER BY t.code"
            )
        ).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=[*UNIT_COLUMNS, "lon", "lat"])
        frame["population"] = frame["population"].astype(np.int64)
        units = gpd.GeoDataFrame(
            frame[UNIT_COLUMNS],
            geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
            crs="EPSG:4326",
        )
        area_rows = db.execute(
            text(
                "SELECT code, level, name_th, name_en, "
                "  ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
                "FROM admin_area WHERE level IN ('district', 'province') AND geom IS NOT NULL"
            )
        ).all()
        areas = pd.DataFrame(
            [tuple(r) for r in area_rows],
            columns=["code", "level", "name_th", "name_en", "lon", "lat"],
        ).set_index("code")
        _units_cache = _Units(key, units, areas)
        return _units_cache


def nearest_geodesic(lon: Floats, lat: Floats, plon: Floats, plat: Floats) -> tuple[Floats, Ints]:
    """For each (lon, lat), the geodesic metres to the nearest of (plon, plat) and its
    index: ``KNN`` candidates by the sphere measured on the spheroid, and a ball query
    for the rare unit where a farther sphere candidate could still win.

    Measured on the demo registry (7,422 tambons; ``bench/coverage.py``, 2026-12-06, busy
    box): a whole coverage run, points read included, 0.044 s for passport_issue (24
    points) and 0.19 s for vaccination (10,771); a PostGIS LATERAL KNN over the composite
    GiST index (4 nearest, re-ranked by ST_Distance on the spheroid) takes 2.2 s for
    either: 33x and 10x slower, so the KD-tree it is."""
    n = len(lon)
    if len(plon) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    tree = cKDTree(geo.unit_xyz(plon, plat))
    k = min(KNN, len(plon))
    chord, idx = tree.query(geo.unit_xyz(lon, lat), k=k)
    chord = np.asarray(chord).reshape(n, k)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k)
    d = geo.distances_m(
        np.repeat(lon, k), np.repeat(lat, k), plon[idx.ravel()], plat[idx.ravel()]
    ).reshape(n, k)
    best = np.argmin(d, axis=1)
    rows = np.arange(n)
    dist = d[rows, best]
    which = idx[rows, best]
    if k < len(plon):
        # a point past the k-th by the sphere may be nearer on the spheroid only if the
        # k-th is within the slack of the best found
        doubtful = np.flatnonzero(geo.arc_m(chord[:, -1]) <= dist * SPHEROID_SLACK)
        for i in doubtful.tolist():
            cand = np.asarray(
                tree.query_ball_point(geo.unit_xyz(lon[i : i + 1], lat[i : i + 1])[0],
                                      geo.chord(float(dist[i]) * SPHEROID_SLACK) + 1e-12),
                dtype=np.int64,
            )  # fmt: skip
            dc = geo.distances_m(
                np.full(len(cand), lon[i]), np.full(len(cand), lat[i]), plon[cand], plat[cand]
            )
            j = int(np.argmin(dc))
            dist[i], which[i] = dc[j], cand[j]
    return dist, which


# --- the points -----------------------------------------------------------------------
def selected_points(db: Executor, f: PointFilter) -> tuple[Ints, Floats, Floats]:
    """The ids and positions of the points ``f`` selects (the one filter module's SQL);
    with a service, the offering's position (the same as its point's)."""
    c = conditions(f)
    rows = db.execute(
        text(
            f"SELECT p.id, ST_X({c.geog}::geometry), ST_Y({c.geog}::geometry) "
            f"FROM {c.source} WHERE {c.sql()}"
        ),
        c.params,
    ).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    arr = np.array([tuple(r) for r in rows], dtype=np.float64)
    return arr[:, 0].astype(np.int64), arr[:, 1].copy(), arr[:, 2].copy()


# --- the run ----------------------------------------------------------------------------
def coverage(
    db: Executor,
    settings: Settings,
    f: PointFilter,
    *,
    thresholds: Sequence[float] = (5, 10, 20),
    mode: Measure = "distance",
    units: gpd.GeoDataFrame | None = None,
    travel_mode: Mode = "drive",
) -> CoverageResult:
    """How far every populated tambon is from the nearest point ``f`` selects.

    ``thresholds`` are km in distance mode, minutes in travel-time mode. ``units``
    replaces the tambons (the same columns, any places: the tests use places in Monaco,
    whose roads they import); by default every populated tambon, read once per process.
    Tambons with no population are left out. In travel-time mode the geodesic distance
    is computed as well, and ``travel_s`` is NaN for units farther than
    ``settings.route_snap_radius_m`` from a road vertex (``notes`` says how many).
    An unknown service, agency or kind raises ``InvalidInput`` (as on every door)."""
    started = time.perf_counter()
    check_codes(db, f)  # an unknown service is a mistake to name, not a country of gaps
    if mode not in ("distance", "travel_time"):
        raise ValueError(f"mode: distance or travel_time, not {mode!r}")
    ts = sorted({float(t) for t in thresholds})
    if not ts or any(not (math.isfinite(t) and 0 < t <= MAX_THRESHOLD) for t in ts):
        raise ThresholdError(
            f"thresholds: at least one, each above 0 and at most {MAX_THRESHOLD:,}"
        )
    areas: pd.DataFrame | None = None
    if units is None:
        cached = _read_units(db)
        frame = cached.units.copy()
        areas = cached.areas
    else:
        frame = units.to_crs("EPSG:4326") if units.crs is not None else units.copy()
        frame = frame[frame["population"] > 0].copy()
    ids, plon, plat = selected_points(db, f)
    lon = np.asarray(frame.geometry.x, dtype=np.float64)
    lat = np.asarray(frame.geometry.y, dtype=np.float64)
    dist, which = nearest_geodesic(lon, lat, plon, plat)
    frame["distance_m"] = dist
    frame["nearest_point_id"] = pd.array(
        [int(ids[w]) if w >= 0 else None for w in which.tolist()], dtype="Int64"
    )
    frame["travel_s"] = np.nan
    result = CoverageResult(
        service=f.service,
        no_copy=bool(f.no_copy),
        mode=mode,
        thresholds=ts,
        units=frame,
        points=len(ids),
        seconds=0.0,
        areas=areas,
    )
    if len(ids) == 0:
        result.notes.append("no point matches the filter: every unit is beyond every threshold")
    if mode == "travel_time":
        _travel_times(db, settings, result, plon, plat, max(ts) * 60.0, travel_mode)
    for t in ts:
        value = result.threshold_value(t)
        metric = np.asarray(frame[result.metric], dtype=np.float64)
        beyond = metric > value
        if mode == "travel_time":
            frame[beyond_column(t)] = pd.array(
                [None if math.isnan(m) else bool(b) for m, b in zip(metric, beyond, strict=True)],
                dtype="boolean",
            )
        else:
            frame[beyond_column(t)] = beyond
    result.units = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    result.seconds = time.perf_counter() - started
    return result


# --- travel time --------------------------------------------------------------------------
def road_graph(db: Executor) -> RoadGraph | None:
    """The graph ``locator.travel.graph`` keeps in memory (read once per process and
    import), or None when no road network is imported."""
    graph = current_graph(db)
    return None if graph.empty or not graph.modes else graph


def _travel_times(
    db: Executor,
    settings: Settings,
    result: CoverageResult,
    plon: Floats,
    plat: Floats,
    limit_s: float,
    mode: Mode,
) -> None:
    units = result.units
    graph = road_graph(db)
    if graph is None:
        result.notes.append(
            "no road network is imported (`locator roads import`): travel_s is NaN throughout"
        )
        return
    lon = np.asarray(units.geometry.x, dtype=np.float64)
    lat = np.asarray(units.geometry.y, dtype=np.float64)
    travel, notes = travel_seconds(
        graph, mode, plon, plat, lon, lat, settings.route_snap_radius_m, limit_s
    )
    units["travel_s"] = travel
    result.notes.extend(notes)


def travel_seconds(
    graph: RoadGraph,
    mode: Mode,
    plon: Floats,
    plat: Floats,
    lon: Floats,
    lat: Floats,
    radius_m: float,
    limit_s: float,
) -> tuple[Floats, list[str]]:
    """Seconds from each place (lon, lat) to the nearest point (plon, plat) over the
    graph (inf: none within ``limit_s``; NaN: the place is farther than ``radius_m`` from
    a vertex of the mode's large connected parts), and what to tell about the gaps. Both
    ends snap to their nearest such vertex; one multi-source Dijkstra from the points."""
    notes: list[str] = []
    travel = np.full(len(lon), np.nan)
    if mode not in graph.modes or not graph.modes[mode].big.any():
        notes.append(f"the imported road network has no roads usable in mode {mode!r}")
        return travel, notes
    snapper = vertex_snapper(graph, mode)
    points, _ = to_vertices(snapper, graph, plon, plat, radius_m)
    sources = np.unique(points[points >= 0])
    off_points = len(points) - int((points >= 0).sum())
    if off_points:
        notes.append(
            f"{off_points} of {len(points)} points are more than {radius_m:g} m from the "
            "road network and are left out of travel times"
        )
    vertex, _ = to_vertices(snapper, graph, lon, lat, radius_m)
    off = int((vertex < 0).sum())
    if off:
        notes.append(
            f"{off} of {len(vertex)} units are more than {radius_m:g} m from a road vertex of "
            "the imported network: their travel_s is NaN (not covered by the network)"
        )
    on = vertex >= 0
    if len(sources):
        # by car from each vertex to the nearest point: Dijkstra from the points over the
        # reversed graph (on foot the graph is symmetric anyway)
        seconds = dijkstra(
            snapper.reverse, directed=True, indices=sources, min_only=True, limit=limit_s
        )
        travel[on] = np.asarray(seconds)[vertex[on]]
    else:
        travel[on] = np.inf
        notes.append("no selected point lies on the road network")
    return travel, notes


# --- aggregation -------------------------------------------------------------------------
def aggregate(
    result: CoverageResult,
    level: Level,
    db: Executor | None = None,
    with_polygons: bool = False,
) -> gpd.GeoDataFrame:
    """One row per area (tambon, district or province): code, name_th, name_en,
    population (the sum of its populated tambons in the result, so provinces add up to
    the national figure the result counts), ``population_beyond_<t>`` and
    ``share_beyond_<t>`` (0..1) per threshold, the worst distance (``max_distance_m``)
    and travel time (``max_travel_s``), ``units``; geometry = the area's polygon from
    ``admin_area`` with ``with_polygons`` (needs ``db``), else its representative point."""
    if level not in ("tambon", "district", "province"):
        raise ValueError(f"level: tambon, district or province, not {level!r}")
    if with_polygons and db is None:
        raise ValueError("with_polygons needs a database to read the polygons from")
    u = pd.DataFrame(result.units.drop(columns="geometry"))
    key = {"tambon": "code", "district": "district_code", "province": "province_code"}[level]
    people = u["population"].to_numpy(dtype=np.int64)
    cols: dict[str, Any] = {"key": u[key].to_numpy(), "population": people}
    for t in result.thresholds:
        col = beyond_column(t)
        cols[f"population_beyond_{t:g}"] = np.where(
            u[col].fillna(False).to_numpy(dtype=bool), people, 0
        )
    cols["max_distance_m"] = u["distance_m"].to_numpy(dtype=np.float64)
    cols["max_travel_s"] = u["travel_s"].to_numpy(dtype=np.float64)
    cols["units"] = np.ones(len(u), dtype=np.int64)
    frame = pd.DataFrame(cols)
    sums = [
        c for c in frame.columns if c == "population" or c.startswith("population_") or c == "units"
    ]
    out = frame.groupby("key", sort=True).agg(
        {**{c: "sum" for c in sums}, "max_distance_m": "max", "max_travel_s": "max"}
    )
    for t in result.thresholds:
        pop = out["population"].to_numpy(dtype=np.float64)
        beyond = out[f"population_beyond_{t:g}"].to_numpy(dtype=np.float64)
        out[f"share_beyond_{t:g}"] = np.divide(
            beyond, pop, out=np.zeros_like(beyond), where=pop > 0
        )
    out.index.name = "code"
    out = out.reset_index()
    if level == "tambon":
        names = u.set_index("code")[["name_th", "name_en"]]
        points = dict(zip(result.units["code"], result.units.geometry, strict=True))
        out = out.join(names, on="code")
        geometry = gpd.GeoSeries(
            np.array([points[c] for c in out["code"]], dtype=object), crs="EPSG:4326"
        )
    else:
        areas = result.areas
        if areas is None and db is not None:
            areas = _read_units(db).areas
        if areas is None:
            raise ValueError(
                "aggregating custom units by district or province needs a database (db=...)"
            )
        named = areas.reindex(out["code"])
        out["name_th"] = named["name_th"].to_numpy()
        out["name_en"] = named["name_en"].to_numpy()
        geometry = gpd.GeoSeries(
            gpd.points_from_xy(named["lon"].to_numpy(), named["lat"].to_numpy()), crs="EPSG:4326"
        )
    if with_polygons:
        assert db is not None
        polygons = _polygons(db, level, list(out["code"]))
        geometry = gpd.GeoSeries(
            np.array([polygons.get(c) for c in out["code"]], dtype=object), crs="EPSG:4326"
        )
    order = ["code", "name_th", "name_en", "population"]
    for t in result.thresholds:
        order += [f"population_beyond_{t:g}", f"share_beyond_{t:g}"]
    order += ["max_distance_m", "max_travel_s", "units"]
    return gpd.GeoDataFrame(out[order], geometry=geometry.to_numpy(), crs="EPSG:4326")


def _polygons(db: Executor, level: Level, codes: list[str]) -> dict[str, Any]:
    rows = db.execute(
        text(
            "SELECT code, ST_AsBinary(geom) FROM admin_area "
            "WHERE level = :level AND code = ANY(:codes)"
        ),
        {"level": level, "codes": codes},
    ).all()
    geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
    return {r[0]: g for r, g in zip(rows, geoms, strict=True)}


def worst_units(result: CoverageResult, n: int = 20) -> gpd.GeoDataFrame:
    """The ``n`` tambons with the most people beyond the largest threshold, then the
    farthest (by travel time in travel-time mode, unknown times last)."""
    u = result.units.copy()
    col = beyond_column(max(result.thresholds))
    u["_people"] = np.where(
        u[col].fillna(False).to_numpy(dtype=bool), u["population"].to_numpy(), 0
    )
    metric = u[result.metric].to_numpy(dtype=np.float64)
    u["_metric"] = np.where(np.isnan(metric), -1.0, metric)
    u = u.sort_values(["_people", "_metric"], ascending=False, kind="stable").head(n)
    return gpd.GeoDataFrame(u.drop(columns=["_people", "_metric"]), crs="EPSG:4326")


# --- siting -------------------------------------------------------------------------------
def suggest_sites(result: CoverageResult, k: int, threshold: float | None = None) -> SitingResult:
    """Greedy maximal coverage: ``k`` new sites among the candidate locations (every
    unit's representative point), each the one bringing the most still-uncovered people
    within ``threshold`` (default: the largest of the result's; km, geodesic). The greedy
    choice is within 1 - 1/e of the best possible set and takes milliseconds.

    In travel-time mode the candidates are judged by geodesic distance as well, with the
    threshold in minutes converted at the straight-line driving speed of
    ``locator.travel.estimate``; the covered counts before use the travel times where known."""
    if k < 0:
        raise ValueError("k: zero or more sites")
    t = float(max(result.thresholds) if threshold is None else threshold)
    if not math.isfinite(t) or t <= 0:
        raise ValueError("threshold: a positive number")
    u = result.units
    people = u["population"].to_numpy(dtype=np.int64)
    metric = u[result.metric].to_numpy(dtype=np.float64)
    if result.mode == "distance":
        radius_m = t * 1000.0
        covered = metric <= radius_m
    else:
        radius_m = estimate.reach_m(t, "drive")
        known = ~np.isnan(metric)
        covered = np.where(known, metric <= t * 60.0, u["distance_m"].to_numpy() <= radius_m)
    before = int(people[covered].sum())
    lon = np.asarray(u.geometry.x, dtype=np.float64)
    lat = np.asarray(u.geometry.y, dtype=np.float64)
    open_ = np.flatnonzero(~covered)
    chosen: list[int] = []
    gained: list[int] = []
    if len(open_) and k > 0:
        # who each candidate would cover, among the uncovered: (candidate, unit) pairs
        tree = cKDTree(geo.unit_xyz(lon[open_], lat[open_]))
        lists = tree.query_ball_point(
            geo.unit_xyz(lon, lat), geo.chord(radius_m * SPHEROID_SLACK) + 1e-12
        )
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        cand = np.repeat(np.arange(len(lon)), counts)
        unit = (
            open_[np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])]
            if len(cand)
            else np.zeros(0, dtype=np.int64)
        )
        d = geo.distances_m(lon[cand], lat[cand], lon[unit], lat[unit])
        keep = d <= radius_m
        cand, unit = cand[keep], unit[keep]
        pairs = csr_matrix((np.ones(len(cand)), (cand, unit)), shape=(len(lon), len(lon))).tocsr()
        by_unit = pairs.T.tocsr()
        gain = np.asarray(pairs @ people.astype(np.float64)).ravel()
        uncovered = ~covered
        for _ in range(k):
            best = int(np.argmax(gain))
            if gain[best] <= 0:
                break
            members = pairs.indices[pairs.indptr[best] : pairs.indptr[best + 1]]
            newly = members[uncovered[members]]
            chosen.append(best)
            gained.append(int(people[newly].sum()))
            uncovered[newly] = False
            for v in newly.tolist():
                owners = by_unit.indices[by_unit.indptr[v] : by_unit.indptr[v + 1]]
                gain[owners] -= people[v]
        covered = ~uncovered
    picked = u.iloc[chosen]
    sites = gpd.GeoDataFrame(
        {
            "order": np.arange(1, len(chosen) + 1, dtype=np.int64),
            "code": picked["code"].to_numpy(),
            "name_th": picked["name_th"].to_numpy(),
            "name_en": picked["name_en"].to_numpy(),
            "people_gained": np.asarray(gained, dtype=np.int64),
        },
        geometry=picked.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    return SitingResult(
        sites=sites,
        threshold=t,
        mode=result.mode,
        covered_before=before,
        covered_after=before + int(sum(gained)),
        population=int(people.sum()),
    )


# --- summary ----------------------------------------------------------------------------
def summary(result: CoverageResult) -> dict[str, Any]:
    """The run in JSON-ready form: what was asked, how many points and people, and per
    threshold the people beyond it and their share (in travel-time mode also the people
    whose travel time is unknown)."""
    u = result.units
    people = u["population"].to_numpy(dtype=np.int64)
    total = int(people.sum())
    beyond = []
    for t in result.thresholds:
        flags = u[beyond_column(t)]
        n = int(people[flags.fillna(False).to_numpy(dtype=bool)].sum())
        entry: dict[str, Any] = {
            "threshold": t,
            "people": n,
            "share": round(n / total, 6) if total else 0.0,
        }
        if result.mode == "travel_time":
            entry["people_unknown"] = int(people[flags.isna().to_numpy()].sum())
        beyond.append(entry)
    return {
        "service": result.service,
        "no_copy": result.no_copy,
        "mode": result.mode,
        "unit": "km" if result.mode == "distance" else "min",
        "thresholds": list(result.thresholds),
        "points": result.points,
        "units": len(u),
        "population": total,
        "beyond": beyond,
        "notes": list(result.notes),
        "seconds": round(result.seconds, 3),
    }
