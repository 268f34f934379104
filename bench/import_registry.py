"""The whole registry imported through the agencies' bulk import, against a plain COPY.

Run by hand:  .venv/bin/python -m bench.import_registry [--repeat 3] [--format csv]

Set-up: a scratch database with the demo registry loaded (seed 2021), exported the way
an agency exports its points (``locator.agencies.bulk``): one file per ministry (an import is
for one agency and those below it; the registry has 14 ministries at the top), each
generated point given an ``external_ref`` of its own (``gen:<id>``) and no ``id``, so
that every row is a new point. Then, ``--repeat`` times, the points are deleted and:

- locator: every file read from its bytes and imported with full validation (each row's
  fields, agency and kind, the pin check over every new point against the registry and
  the file itself), one transaction per ministry as the agencies would; the real
  registry's own findings (wrong provinces, duplicates) are overridden and recorded, as
  the loader records them;
- baseline: a plain ``COPY service_point FROM STDIN`` of the same rows and columns into
  the same table (the same indexes), no checks, no change log. Its time includes
  nothing of the rows' preparation (the CSV text is made before the clock starts).

Prints the medians, the ratio, and the import's own split (rows, write, pin check, log).
Target (issue 12): <= 10 s for the whole registry.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, text

from bench.common import median, scratch_database
from locator.agencies.bulk import export, formats, importer
from locator.ingest.registry import load_registry
from locator.registry import hours
from locator.settings import get_settings


def export_files(engine: Engine, fmt: formats.Format) -> dict[str, bytes]:
    """Each ministry's points as an import file: every row a new point."""
    with engine.connect() as conn:
        roots = conn.execute(
            text("SELECT code FROM agency WHERE parent_id IS NULL ORDER BY code")
        ).scalars()
        files = {}
        for root in roots:
            rows = export.export_rows(conn, root)
            for row in rows:
                row["external_ref"] = row["external_ref"] or f"gen:{row['id']}"
                row["id"] = None
                row["version"] = None
            if rows:
                files[root] = formats.write_file(rows, fmt)
    return files


def delete_points(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE service_point, offering, rating, qa_flag, change CASCADE"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE service_point"))


def import_all(engine: Engine, files: dict[str, bytes], fmt: formats.Format) -> dict[str, Any]:
    settings = get_settings()
    split: dict[str, float] = defaultdict(float)
    rows = created = 0
    started = time.perf_counter()
    for root, data in files.items():
        mark = time.perf_counter()
        table = formats.read_file(data, fmt, f"{root}.{fmt}")
        split["read"] += time.perf_counter() - mark
        with engine.begin() as conn:
            report = importer.import_points(conn, settings, root, table, override=True,
                                        confirm_duplicates=True)  # fmt: skip
        if not report.ok:
            raise RuntimeError(f"{root}: {report.problems[:5]}")
        for key, value in report.seconds.items():
            split[key] += value
        rows += report.rows
        created += report.created
    split["wall"] = time.perf_counter() - started
    return {"row_count": rows, "created": created, **split}


COPY_COLUMNS = (
    "agency_id, kind, name_th, name_en, geog, address_th, address_en, tambon_code, "
    "postcode, phones, opening_hours, wheelchair, priority_lane, gecc, status, source, "
    "external_ref"
)


def copy_text(engine: Engine, files: dict[str, bytes], fmt: formats.Format) -> str:
    """The same rows as COPY text (tab-separated), made before the clock starts."""
    with engine.connect() as conn:
        agency_ids = dict(conn.execute(text("SELECT code, id FROM agency")).all())
    out = io.StringIO()

    def cell(value: Any) -> str:
        if value is None or value == "":
            return "\\N"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    for root, data in files.items():
        for r in formats.read_file(data, fmt, root).rows:
            phones = "{" + ",".join(f'"{p}"' for p in str(r["phones"] or "").split(";") if p) + "}"
            opening = json.dumps(hours.from_osm(r["opening_hours"]), ensure_ascii=False)
            values = [
                agency_ids[r["agency"]], r["kind"], r["name_th"], r["name_en"],
                f"SRID=4326;POINT({r['lon']} {r['lat']})", r["address_th"], r["address_en"],
                r["tambon_code"], r["postcode"], phones, opening, r["wheelchair"],
                r["priority_lane"], r["gecc"], r["status"], "imported", r["external_ref"],
            ]  # fmt: skip
            out.write("\t".join(cell(v) for v in values) + "\n")
    return out.getvalue()


def plain_copy(engine: Engine, data: str) -> float:
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.cursor() as cur:
            cur.copy_expert(f"COPY service_point ({COPY_COLUMNS}) FROM STDIN", io.StringIO(data))
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", choices=formats.FORMATS, default="csv")
    args = parser.parse_args()
    fmt: formats.Format = args.format
    settings = get_settings()

    with scratch_database("locator_bench_import") as engine:
        load_registry(engine, settings.data_dir, settings.catalogue_dir, seed=2021)
        files = export_files(engine, fmt)
        size = sum(len(d) for d in files.values())
        copy_data = copy_text(engine, files, fmt)
        ours: list[dict[str, Any]] = []
        theirs: list[float] = []
        for _ in range(args.repeat):
            delete_points(engine)
            ours.append(import_all(engine, files, fmt))
            with engine.connect() as conn:
                points = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
                changes = conn.execute(text("SELECT count(*) FROM change")).scalar_one()
                flagged = conn.execute(
                    text("SELECT count(DISTINCT point_id) FROM qa_flag")
                ).scalar_one()
            assert points == ours[-1]["created"], (points, ours[-1])
            delete_points(engine)
            theirs.append(plain_copy(engine, copy_data))

    walls = [r["wall"] for r in ours]
    last = ours[-1]
    print(f"registry: {last['row_count']:,} rows in {len(files)} ministry files, "
          f"{size / 1e6:.1f} MB of {fmt}; {points:,} points created, {changes:,} change rows, "
          f"{flagged} points flagged by overridden pin-check findings")  # fmt: skip
    print(f"runs: {args.repeat}")
    print(f"locator bulk import (full validation): median {median(walls):.2f} s  "
          f"runs {', '.join(f'{t:.2f}' for t in walls)}  (target <= 10 s: "
          f"{'met' if median(walls) <= 10 else 'NOT met'})")  # fmt: skip
    parts = ("read", "rows", "fill", "write", "pin_check", "log")
    print("  split, medians: " + ", ".join(
        f"{p} {median([r.get(p, 0.0) for r in ours]):.2f} s" for p in parts))  # fmt: skip
    print(f"plain COPY of the same rows: median {median(theirs):.2f} s  "
          f"runs {', '.join(f'{t:.2f}' for t in theirs)}")  # fmt: skip
    print(f"ratio import / COPY: {median(walls) / median(theirs):.2f}")
    print(f"throughput: {last['row_count'] / median(walls):,.0f} rows/s (import), "
          f"{last['row_count'] / median(theirs):,.0f} rows/s (COPY)")  # fmt: skip


if __name__ == "__main__":
    main()
