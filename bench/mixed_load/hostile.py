"""Hostile files at the bulk import (issue 20, items 2 and 3): the bodies ``bench.load``'s
abuse phase posts beside normal traffic, and, run on its own, what one such file costs a
``locator import`` (peak memory and time, medians of ``--runs``).

Run by hand:  .venv/bin/python -m bench.mixed_load.hostile [--runs 3] [--timeout 60]

The files come from tests/support/hostile_files.py, the one home the tests share: a CSV of
12 M two-byte rows (24 MB), a GeoPackage whose layer is a recursive view (98 KB, counting
for ever), a GeoJSON of 1.3 M empty features (64 MB). Each ``locator import --dry-run``
is watched for its peak resident set (the kernel's VmHWM) and killed if still running at
``--timeout`` (reported as such: before issue 20 the recursive view ran for ever). Each is
refused before any row is written.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import hostile_files
from tests.support.cli import LOCATOR

CSV_ROWS = 12_000_000
GEOJSON_FEATURES = 1_300_000


def make_files(folder: Path) -> dict[str, Path]:
    """The hostile files, written into ``folder``, by name."""
    csv = folder / "tiny-rows.csv"
    with csv.open("wb") as out:
        hostile_files.tiny_rows_csv(CSV_ROWS, out)
    geojson = folder / "tiny-features.geojson"
    with geojson.open("wb") as out:
        hostile_files.tiny_features_geojson(GEOJSON_FEATURES, out)
    return {
        "csv, 12 M tiny rows": csv,
        "gpkg, recursive view": hostile_files.recursive_view_gpkg(folder / "forever.gpkg"),
        "gpkg, trigger": hostile_files.trigger_gpkg(folder / "trigger.gpkg"),
        "gpkg, generated column": hostile_files.generated_column_gpkg(folder / "gen.gpkg"),
        "gpkg, not SQLite": hostile_files.not_sqlite_gpkg(folder / "zip.gpkg"),
        "geojson, 1.3 M tiny features": geojson,
    }


CONTENT_TYPES = {
    ".csv": "text/csv",
    ".gpkg": "application/geopackage+sqlite3",
    ".geojson": "application/geo+json",
}


def bodies(folder: Path, small: bool = True) -> list[tuple[str, str, bytes]]:
    """(name, Content-Type, body) of each hostile file, for posting to the import door.
    ``small``: the tiny-rows files at 120,000 rows (past the default cap of 100,000), so
    that the attack's time goes to the server's answer, not to the client's upload."""
    csv = hostile_files.tiny_rows_csv(120_000 if small else CSV_ROWS)
    geojson = hostile_files.tiny_features_geojson(120_000 if small else GEOJSON_FEATURES)
    gpkg = {
        name: path.read_bytes()
        for name, path in (
            ("gpkg, recursive view", hostile_files.recursive_view_gpkg(folder / "forever.gpkg")),
            ("gpkg, trigger", hostile_files.trigger_gpkg(folder / "trigger.gpkg")),
            ("gpkg, generated column", hostile_files.generated_column_gpkg(folder / "gen.gpkg")),
            ("gpkg, not SQLite", hostile_files.not_sqlite_gpkg(folder / "zip.gpkg")),
        )
    }
    return [
        ("csv, tiny rows", "text/csv", csv),
        ("geojson, tiny features", "application/geo+json", geojson),
        ("geojson, nested", "application/geo+json", hostile_files.nested_geojson(1_000_000)),
        *((name, "application/geopackage+sqlite3", body) for name, body in gpkg.items()),
    ]


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    killed: bool
    said: str


def import_once(path: Path, agency: str, timeout: float) -> Run:
    """One ``locator import --dry-run`` of ``path``: its time, its peak memory (the
    kernel's high-water mark of its resident set, read while it runs, so a run killed at
    ``timeout`` still has one) and the line that says why it was refused."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [LOCATOR, "import", str(path), "--agency", agency, "--dry-run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    peak, killed = 0, False
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        with contextlib.suppress(OSError):
            found = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            peak = max(peak, int(found.group(1)) if found else 0)
        if time.perf_counter() - started > timeout:
            proc.kill()
            killed = True
            break
        time.sleep(0.1)
    output = proc.communicate()[0]
    seconds = time.perf_counter() - started
    said = [line for line in output.splitlines() if "error" in line]
    return Run(
        seconds=seconds,
        max_rss_mb=peak / 1024,
        killed=killed,
        said=said[0].strip()[:120] if said else output.strip()[-120:],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60, help="seconds before a kill")
    parser.add_argument("--agency", default="dopa_50")
    parser.add_argument("--only", default=None, help="only the files whose name has this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = make_files(Path(folder))
        print(f"{'file':32} {'size':>9} {'median s':>9} {'max RSS MB':>11}  answer")
        for name, path in files.items():
            if args.only and args.only not in name:
                continue
            runs = [import_once(path, args.agency, args.timeout) for _ in range(args.runs)]
            seconds = statistics.median(r.seconds for r in runs)
            rss = statistics.median(r.max_rss_mb for r in runs)
            answer = "killed at the timeout" if any(r.killed for r in runs) else runs[0].said
            size = path.stat().st_size
            print(
                f"{name:32} {size / 1e6:8.2f}M {seconds:9.2f} {rss:11.0f}  {answer}",
                flush=True,
            )
            print(f"{'':32} runs: " + ", ".join(f"{r.seconds:.2f} s/{r.max_rss_mb:.0f} MB"
                                                 for r in runs), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
