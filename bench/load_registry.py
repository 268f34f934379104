"""How long the whole registry takes to load, against geopandas `to_postgis` of the points.

Run by hand:  .venv/bin/python -m bench.load_registry [--repeat 3]

Both run in the same process against the same server, one after the other:
- locator: `load_registry` (build the 60,000 points and ~280,000 offerings in Python,
  COPY agencies, points and offerings, rebuild indexes, ANALYZE), in one transaction;
- baseline: `GeoDataFrame.to_postgis` of the same points table alone (no offerings, no
  agencies, no indexes), as a newcomer would write it.
"""

from __future__ import annotations

import argparse

from sqlalchemy import text

from bench.common import median, scratch_database, timed
from locator.db.copy import copy_frame
from locator.ingest.registry import build_registry, load_registry, read_areas
from locator.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = get_settings()

    with scratch_database() as engine:
        reports = []

        def locator_load() -> None:
            reports.append(
                load_registry(engine, settings.data_dir, settings.catalogue_dir, replace=True)
            )

        ours, _ = timed(locator_load, args.repeat)

        with engine.connect() as conn:
            areas = read_areas(conn)
        points = build_registry(areas, settings.data_dir, settings.catalogue_dir).points
        frame = points.drop(columns=["opening_hours", "phones"]).set_geometry("geog")

        def baseline() -> None:
            frame.to_postgis("bench_points", engine, if_exists="replace", index=False)

        theirs, _ = timed(baseline, args.repeat)
        with engine.connect() as conn:
            copied = conn.execute(text("SELECT count(*) FROM bench_points")).scalar_one()

        def same_table() -> None:
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE bench_points"))
                copy_frame(conn, "bench_points", frame, list(frame.columns),
                           geometry_columns=["geog"])  # fmt: skip

        same, _ = timed(same_table, args.repeat)

    last = reports[-1]
    print(f"registry: {last.points:,} points, {last.offerings:,} offerings, "
          f"{last.agencies:,} agencies; baseline table: {copied:,} rows")  # fmt: skip
    print(f"runs: {args.repeat}")
    print(f"locator load registry (all tables): median {median(ours):6.2f} s  "
          f"runs {', '.join(f'{t:.2f}' for t in ours)}")  # fmt: skip
    qa = [r.seconds["qa"] for r in reports]
    s = last.seconds
    print(
        "  of which build (Python) / write (COPY + indexes) / pin check / analyze, last run: "
        f"{s['build']:.2f} / {s['write']:.2f} / {s['qa']:.2f} / "
        f"{s['total'] - s['build'] - s['write'] - s['qa']:.2f} s"
    )
    print(f"the pin check (QA pass) of the real offices: median {median(qa):.2f} s  "
          f"runs {', '.join(f'{t:.2f}' for t in qa)}")  # fmt: skip
    print(f"geopandas to_postgis (points only): median {median(theirs):6.2f} s  "
          f"runs {', '.join(f'{t:.2f}' for t in theirs)}")  # fmt: skip
    print(f"ratio locator (all tables) / baseline (points only): "
          f"{median(ours) / median(theirs):.2f}")  # fmt: skip
    print(
        f"locator COPY of the same points frame into the same table: median "
        f"{median(same):.2f} s, ratio to to_postgis {median(same) / median(theirs):.2f}"
    )
    print(f"throughput: {(last.points + last.offerings) / median(ours):,.0f} rows/s (locator), "
          f"{copied / median(theirs):,.0f} rows/s (baseline)")  # fmt: skip


if __name__ == "__main__":
    main()
