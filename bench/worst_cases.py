"""The most expensive input every public read route allows, timed against the read
statement timeout (issue 20: "every public query has a worst case, far below it").

Run by hand against a served registry (reads only; the demo's 60k points):

    .venv/bin/python -m bench.worst_cases --base http://127.0.0.1:8000 [--repeat 3]

Each request is sent ``--repeat`` times one after another from one client; the figure is
the median wall time of the whole HTTP answer (status shown). The inputs are the largest
the API's bounds allow (``max_k``, ``max_radius_m``, ``max_page_size``,
``max_bbox_area_deg2``, ``max_isochrone_minutes``, the longest query) on the routes'
costliest paths, chosen by reading each route's code; README's "Worst cases" lists them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import httpx

from locator.settings import get_settings

S = get_settings()
THAILAND_BBOX = "97.3,5.6,105.7,20.5"  # 125 square degrees: all of Thailand
WIDE_BBOX = "90,0,110,20"  # 400 square degrees, the most a bbox may cover
FILTER = " OR ".join(f"name_th LIKE '%{c}%'" for c in "กขคงจฉชซ") + " OR name_en LIKE '%a%'"

CASES: list[tuple[str, str, str, dict[str, str | int | float]]] = [
    ("nearest", "k=max_k, every filter, open_now", "/v1/points/nearest",
     {"lat": 13.75, "lon": 100.5, "k": S.max_k, "service": "id_card_renewal",
      "open_now": "true", "no_copy": "true", "wheelchair": "true"}),
    ("nearest", "radius_m=max, page of max_page_size", "/v1/points/nearest",
     {"lat": 13.75, "lon": 100.5, "radius_m": S.max_radius_m, "limit": S.max_page_size}),
    ("nearest", "radius_m=max, offset past the last page", "/v1/points/nearest",
     {"lat": 13.75, "lon": 100.5, "radius_m": S.max_radius_m, "limit": S.max_page_size,
      "offset": 10**9}),
    ("nearest", "origin (0,0), far from every point", "/v1/points/nearest",
     {"lat": 0, "lon": 0, "k": S.max_k}),
    ("search", "three tone marks (refused)", "/v1/points/search", {"q": "\u0e48\u0e48\u0e48"}),
    ("search", "common word x8, misspelt (near-miss step)", "/v1/points/search",
     {"q": ("ที่ว่าการ" * 8 + "x")[: S.max_query_length], "limit": S.max_k}),
    ("search", "longest query of distinct Thai trigrams", "/v1/points/search",
     {"q": "กขคงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ" * 2, "limit": S.max_k}),
    ("search", "common word near a place (spatial walk)", "/v1/points/search",
     {"q": "office", "lat": 13.75, "lon": 100.5, "limit": S.max_k}),
    ("search", "common word from (0,0), far from every point", "/v1/points/search",
     {"q": "office", "lat": 0, "lon": 0, "limit": S.max_k}),
    ("points detail", "a point with many offerings", "/v1/points/927", {}),
    ("services", "the whole catalogue", "/v1/services", {}),
    ("areas", "every district outline", "/v1/areas/district", {}),
    ("items", "bbox of 400 square degrees, page of max", "/collections/service_points/items",
     {"bbox": WIDE_BBOX, "limit": S.max_page_size}),
    ("items", "last page of all Thailand, sorted by name", "/collections/service_points/items",
     {"bbox": THAILAND_BBOX, "limit": S.max_page_size, "offset": 59_000,
      "sortby": "-name_th"}),
    ("items", "CQL2 filter of 9 LIKEs OR-ed, numberMatched", "/collections/service_points/items",
     {"filter": FILTER, "limit": S.max_page_size}),
    ("items", "S_INTERSECTS with a 150-vertex polygon", "/collections/service_points/items",
     {"filter": "S_INTERSECTS(geometry, POLYGON(("
      + ", ".join(f"{100 + 2 * math.cos(i / 24):.4f} {14 + 2 * math.sin(i / 24):.4f}"
                  for i in range(150))
      + ", 102.0000 14.0000)))", "limit": S.max_page_size}),
    ("collections", "the collection and its extent", "/collections/service_points", {}),
    ("isochrone", "max minutes, by car", "/v1/isochrone",
     {"lat": 13.75, "lon": 100.5, "minutes": S.max_isochrone_minutes}),
    ("route", "across the country", "/v1/route",
     {"from": "20.4,99.9", "to": "5.7,101.0", "steps": "true"}),
    ("coverage", "tambon level, 20 sites, 100 worst, geojson", "/v1/coverage",
     {"level": "tambon", "sites": 20, "worst": 100, "thresholds": "1,2,5,10,1000",
      "format": "geojson"}),
    ("stats", "the registry's counts", "/v1/stats", {}),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"read statement timeout: {S.read_statement_timeout_ms} ms; median of {args.repeat}")
    print(f"{'route':14} {'input':48} {'status':>6} {'median ms':>10}")
    with httpx.Client(base_url=args.base, headers={"Host": "localhost"}, timeout=60) as c:
        for route, what, path, params in CASES:
            times, status = [], 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                status = c.get(path, params=params).status_code
                times.append((time.perf_counter() - started) * 1000)
            print(f"{route:14} {what:48} {status:>6} {statistics.median(times):>10.1f}")


if __name__ == "__main__":
    main()
