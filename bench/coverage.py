"""Coverage (issue 13): national coverage of one service and of every service (distance
mode) on the demo database, against a PostGIS LATERAL KNN doing the same nearest search;
then travel-time coverage on the ~2M-vertex tiled road graph of ``bench/routing.py`` if
its database is present (it is not built here: that takes 20+ minutes).

Run by hand; reads only::

    .venv/bin/python -m bench.coverage --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, create_engine, text

from locator.analysis import coverage as cv
from locator.db.engine import database_url, with_database
from locator.query.filters import PointFilter, conditions
from locator.settings import get_settings
from locator.travel.graph import build, forget

RARE = "passport_issue"
COMMON = "vaccination"
ROADS_DB = "locator_bench_roads"
TARGET_ONE_S, TARGET_ALL_S, TARGET_TRAVEL_S = 2.0, 30.0, 1.0


def times(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def show(label: str, values: list[float], target: float | None = None) -> float:
    med = statistics.median(values)
    runs = ", ".join(f"{v:.3f}" for v in values)
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:g} s: {'met' if med <= target else 'NOT met'}"
    print(f"  {label:<58} median {med:8.3f} s  ({runs}){verdict}", flush=True)
    return med


def lateral_knn(conn: Connection, service: str) -> int:
    """The same answer in PostGIS: for each tambon point, the 4 nearest selected points by
    the composite GiST (service_code, geog) index, re-ranked by ST_Distance on the
    spheroid."""
    units = cv.tambon_units(conn)
    c = conditions(PointFilter(service=service))
    params = {
        **c.params,
        "lons": units.geometry.x.tolist(),
        "lats": units.geometry.y.tolist(),
    }
    rows = conn.execute(
        text(
            f"""
            WITH u AS (
                SELECT ST_SetSRID(ST_MakePoint(x, y), 4326)::geography AS g, i
                FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
                     WITH ORDINALITY AS t(x, y, i)
            )
            SELECT u.i, best.id, best.d FROM u CROSS JOIN LATERAL (
                SELECT k.id, ST_Distance(k.geog, u.g) AS d FROM (
                    SELECT p.id, {c.geog} AS geog FROM {c.source} WHERE {c.sql()}
                    ORDER BY {c.geog} <-> u.g LIMIT 4
                ) AS k ORDER BY d LIMIT 1
            ) AS best
            """
        ),
        params,
    ).all()
    return len(rows)


def distance_part(url: str, repeat: int) -> dict[str, float]:
    settings = get_settings()
    engine = create_engine(url)
    out: dict[str, float] = {}
    with engine.connect() as conn:
        services = list(conn.execute(text("SELECT code FROM service ORDER BY code")).scalars())
        cv._units_cache = None
        started = time.perf_counter()
        first = cv.coverage(conn, settings, PointFilter(service=RARE))
        cold = time.perf_counter() - started
        print(
            f"distance mode, {len(first.units):,} populated tambons, "
            f"{first.population:,} people; {len(services)} services in the catalogue"
        )
        print(f"  first run (reads the tambon points once per process): {cold:.3f} s")
        for label, f in [
            (f"one rare service ({RARE})", PointFilter(service=RARE)),
            (f"one rare service, no-copy only ({RARE})", PointFilter(service=RARE, no_copy=True)),
            (f"one common service ({COMMON})", PointFilter(service=COMMON)),
            ("any service (every active point)", PointFilter()),
        ]:
            result = cv.coverage(conn, settings, f)
            med = show(
                f"{label}: {result.points:,} points",
                times(lambda f=f: cv.coverage(conn, settings, f), repeat),
                TARGET_ONE_S,
            )
            out[label] = med

        def every_service() -> None:
            for code in services:
                cv.coverage(conn, settings, PointFilter(service=code))

        out["all"] = show(
            f"all {len(services)} services, one after another",
            times(every_service, max(3, repeat // 2)),
            TARGET_ALL_S,
        )
        result = cv.coverage(conn, settings, PointFilter(service=RARE))
        out["aggregate district"] = show(
            "aggregate by district (representative points)",
            times(lambda: cv.aggregate(result, "district"), repeat),
        )
        out["aggregate district polygons"] = show(
            "aggregate by district with polygons",
            times(lambda: cv.aggregate(result, "district", conn, with_polygons=True), repeat),
        )
        out["siting"] = show(
            "suggest_sites k=10 at 20 km (rare service)",
            times(lambda: cv.suggest_sites(result, 10), repeat),
        )
        print("baseline: the same nearest search as a PostGIS LATERAL KNN (4 by the index, "
              "re-ranked on the spheroid)")  # fmt: skip
        for service in (RARE, COMMON):
            sql = statistics.median(times(lambda s=service: lateral_knn(conn, s), repeat))
            ours = statistics.median(
                times(lambda s=service: cv.coverage(conn, settings, PointFilter(service=s)), repeat)
            )
            print(
                f"  {service:<24} LATERAL KNN {sql:7.3f} s, coverage() {ours:7.3f} s "
                f"(whole run, points read included): {sql / ours:5.1f}x"
            )
            out[f"lateral {service}"] = sql
    engine.dispose()
    return out


def travel_part(server: str, repeat: int) -> None:
    admin = create_engine(with_database(server, "postgres"))
    with admin.connect() as conn:
        present = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": ROADS_DB}
        ).first()
    admin.dispose()
    if present is None:
        print(
            f"\ntravel time: skipped, no database {ROADS_DB!r} on this server. Build the "
            "~2M-vertex tiled graph first (20+ minutes, about 9 GB of memory at its peak):\n"
            "    .venv/bin/python -m bench.routing --only tiled --prepare-only\n"
            "then run this bench again. Meanwhile: the same travel-time core on a synthetic "
            "grid graph of the same size, in memory (no SQL)."
        )
        synthetic_grid(repeat)
        # sized like the tiled graph's part usable by car: 1.42M vertices, about 2.1M edges
        synthetic_grid(repeat, side=1190, keep=0.75)
        return
    settings = get_settings()
    engine = create_engine(with_database(server, ROADS_DB))
    with engine.connect() as conn:
        forget()
        started = time.perf_counter()
        graph = cv.road_graph(conn)
        read = time.perf_counter() - started
        if graph is None:
            print(f"\ntravel time: skipped, {ROADS_DB!r} holds no road graph")
            return
        part = graph.modes["drive"]
        print(f"\ntravel time on {ROADS_DB}: {part.vertices:,} vertices, {part.edges:,} "
              f"drivable arcs; graph read {read:.1f} s (once per process)")  # fmt: skip
        # units: as many places as Thailand has populated tambons, at random drivable
        # vertices (the graph is not Thai), moved up to ~20 m
        rng = np.random.default_rng(13)
        big = np.flatnonzero(part.big)
        picked = rng.choice(big, size=7422, replace=False)
        import geopandas as gpd

        units = gpd.GeoDataFrame(
            {
                "code": [f"U{i}" for i in range(len(picked))],
                "name_th": "", "name_en": "", "district_code": "D", "province_code": "P",
                "population": np.ones(len(picked), dtype=np.int64),
            },
            geometry=gpd.points_from_xy(
                graph.lon[picked] + rng.uniform(-2e-4, 2e-4, len(picked)),
                graph.lat[picked] + rng.uniform(-1.5e-4, 1.5e-4, len(picked)),
            ),
            crs="EPSG:4326",
        )  # fmt: skip
        # the facilities: 200 points of the bench's own at random drivable vertices,
        # labelled as bench data and removed afterwards (the bench database holds no
        # registry; its roads are not Thai)
        sites = rng.choice(big, size=200, replace=False)
        with engine.begin() as setup:
            setup.execute(
                text("DELETE FROM service_point WHERE external_ref LIKE 'bench.coverage:%'")
            )
            agency_id = setup.execute(
                text(
                    "INSERT INTO agency (code, name_th, name_en, level) "
                    "VALUES ('bench_coverage', 'bench', 'bench.coverage facilities', 'department') "
                    "ON CONFLICT (code) DO UPDATE SET name_en = EXCLUDED.name_en RETURNING id"
                )
            ).scalar_one()
            setup.execute(
                text(
                    "INSERT INTO service_point (agency_id, kind, name_th, name_en, geog, source, "
                    "external_ref, opening_hours) "
                    "SELECT :a, 'district_office', 'bench ' || n, 'bench ' || n, "
                    "ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, 'generated', "
                    "'bench.coverage:' || n, '{}'::jsonb "
                    "FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) "
                    "WITH ORDINALITY AS u(lon, lat, n)"
                ),
                {
                    "a": agency_id,
                    "lon": graph.lon[sites].tolist(),
                    "lat": graph.lat[sites].tolist(),
                },
            )
        f = PointFilter(agency="bench_coverage")
        started = time.perf_counter()
        first = cv.coverage(conn, settings, f, mode="travel_time", thresholds=[15, 30, 60],
                            units=units)  # fmt: skip
        print(f"  first run (snapping tree and reversed graph built once): "
              f"{time.perf_counter() - started:.2f} s; {first.points:,} points; notes: "
              f"{first.notes}")  # fmt: skip

        def run() -> None:
            cv.coverage(conn, settings, f, mode="travel_time", thresholds=[15, 30, 60],
                        units=units)  # fmt: skip

        label = "travel time, 15/30/60 min, bench points as one service"
        show(label, times(run, repeat), TARGET_TRAVEL_S)
        print(f"  summary: {cv.summary(first)['beyond']}")
    with engine.begin() as cleanup:
        cleanup.execute(
            text("DELETE FROM service_point WHERE external_ref LIKE 'bench.coverage:%'")
        )
    engine.dispose()


def synthetic_grid(repeat: int, side: int = 1415, keep: float = 1.0) -> None:
    """``coverage.travel_seconds`` (snapping and the multi-source Dijkstra, what a
    travel-time run adds to a distance run) on a ``side`` x ``side`` grid of streets
    100 m apart (1415: 2.0M vertices, 4.0M edges), ``keep`` of its edges at random, 10 %
    one-way, speeds 30-90 km/h: synthetic, labelled so; 200 points and 7,422 places at
    random."""
    rng = np.random.default_rng(13)
    n = side * side
    ids = np.arange(n, dtype=np.int64)
    step = 0.0009  # about 100 m
    vertices = np.zeros(n, dtype=[("id", "i8"), ("lon", "f8"), ("lat", "f8")])
    vertices["id"] = ids
    vertices["lon"] = 100.0 + (ids % side) * step
    vertices["lat"] = 14.0 + (ids // side) * step
    right = ids[(ids % side) < side - 1]
    up = ids[ids < n - side]
    source = np.concatenate([right, up])
    target = np.concatenate([right + 1, up + side])
    kept = rng.random(len(source)) < keep
    source, target = source[kept], target[kept]
    edges = np.zeros(len(source), dtype=[("source", "i8"), ("target", "i8"), ("cost", "f8"),
                                          ("reverse_cost", "f8"), ("walk_cost", "f8")])  # fmt: skip
    edges["source"], edges["target"] = source, target
    edges["cost"] = 100.0 / (rng.uniform(30, 90, len(source)) / 3.6)
    edges["reverse_cost"] = np.where(rng.random(len(source)) < 0.1, -1.0, edges["cost"])
    edges["walk_cost"] = 100.0 / (5 / 3.6)
    started = time.perf_counter()
    graph = build(("synthetic", side, keep), vertices, edges)
    print(f"  synthetic grid: {n:,} vertices, {len(edges):,} edges ({keep:.0%} of the grid's), "
          f"{graph.modes['drive'].big.sum():,} in its large parts, built in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    span = side * step
    plon, plat = 100.0 + rng.uniform(0, span, 200), 14.0 + rng.uniform(0, span, 200)
    ulon, ulat = 100.0 + rng.uniform(0, span, 7422), 14.0 + rng.uniform(0, span, 7422)

    def run() -> None:
        cv.travel_seconds(graph, "drive", plon, plat, ulon, ulat, 500.0, 3600.0)

    started = time.perf_counter()
    travel, notes = cv.travel_seconds(graph, "drive", plon, plat, ulon, ulat, 500.0, 3600.0)
    print(f"  first run (snapping tree over the vertices and the reversed graph built once "
          f"per process and graph): {time.perf_counter() - started:.2f} s; notes: {notes}; "
          f"median travel {np.nanmedian(travel) / 60:.1f} min")  # fmt: skip
    show("travel_seconds, 200 points, 7,422 places, limit 60 min", times(run, repeat),
         TARGET_TRAVEL_S)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default=None, help="a database holding the registry "
                        "(default: the project's, e.g. the demo database)")  # fmt: skip
    args = parser.parse_args()
    url = args.url or database_url()
    distance_part(url, args.repeat)
    travel_part(url, args.repeat)


if __name__ == "__main__":
    main()
