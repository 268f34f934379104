"""The OGC API Features door beside tipg, on the same table, the same box, the same run.

Run by hand:  .venv/bin/python -m bench.ogc [--rounds 3] [--seconds 10] [--export-rounds 3]

tipg (developmentseed's OGC Features server for PostGIS; PyPI ``tipg``) is installed
into a virtual environment of its own under ``bench/output/tipg-venv`` on first use
(its FastAPI and pydantic pins are not ours), and served with uvicorn, two workers,
against the very database ``locator serve --workers 2`` reads (``locator_bench_60000``,
the registry ``bench/nearest.py`` keeps; made on first use). Both run on loopback and
share the 2 cores with the load generator and PostgreSQL. Measured, alternating the
two servers within every round so that this box's drift hits both sides of each ratio:

- items pages: wrk with a Lua script asking ``/items?bbox=...&limit=10`` for random
  0.2-degree boxes over central and northern Thailand, at saturation (16 connections)
  and one client at a time; then the same boxes with a CQL2 text filter
  (``kind='police_station'``), which both servers accept;
- a full export: GDAL's ``ogr2ogr`` from ``OAPIF:`` to a GeoPackage, every point of
  the collection, with the page size each server allows (``-oo PAGE_SIZE``).

Figures are medians over the rounds, and each ratio the median of the rounds' own.
Differences in what is counted: locator's items show active points (all but a few
dozen closed ones) and tipg's every row; both compute numberMatched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import quote

import httpx
import pyogrio
from sqlalchemy.engine import make_url

from bench.common import bench_env, parse_wrk
from bench.nearest import prepare
from tests.support.ports import free_port
from tests.support.servers import Server, running, serving

OUTPUT = Path(__file__).resolve().parent / "output"
TIPG_VENV = OUTPUT / "tipg-venv"
TIPG_VERSION = "1.6.1"
BOX = {"lat": (13.0, 19.5), "lon": (99.0, 104.5)}
HALF = 0.1  # half the side of each random box, degrees
OURS = "/collections/service_points/items"
TIPG = "/collections/public.service_point/items"
FILTER = "kind='police_station'"
LUA = """
math.randomseed(os.time() + {seed})
request = function()
  local lat = {lat0} + math.random() * {dlat}
  local lon = {lon0} + math.random() * {dlon}
  local path = string.format("{path}?bbox=%.4f,%.4f,%.4f,%.4f&limit=10{extra}",
    lon - {half}, lat - {half}, lon + {half}, lat + {half})
  return wrk.format("GET", path)
end
"""


def ensure_tipg() -> Path:
    """tipg and uvicorn in a virtual environment of their own (once)."""
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing tipg {TIPG_VERSION} into {TIPG_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"tipg=={TIPG_VERSION}", "uvicorn"],
            check=True,
        )
    return python


def asyncpg_url(url: str) -> str:
    """The same database for asyncpg: a plain ``postgresql://`` URL; a socket folder goes
    in the host part, percent-encoded (tipg's settings refuse a URL with no host, and
    asyncpg takes a host that starts with ``/`` for a socket folder)."""
    u = make_url(url)
    host = u.query.get("host")
    port = u.query.get("port") or u.port or 5432
    if host:
        return f"postgresql://{u.username}@{quote(str(host), safe='')}:{port}/{u.database}"
    return f"postgresql://{u.username}@{u.host}:{port}/{u.database}"


def serving_tipg(url: str, log: Path) -> AbstractContextManager[Server]:
    """tipg with uvicorn, two workers, on a free loopback port over ``url``'s database."""
    python = ensure_tipg()
    env = {
        **os.environ,
        "DATABASE_URL": asyncpg_url(url),
        "TIPG_DB_TABLES": '["public.service_point"]',
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        "TIPG_CATALOG_TTL": "3600",
    }
    port = free_port()
    command = [str(python), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "2", "--no-access-log"]  # fmt: skip
    return running(command, port, env, log=log, ready_path=f"{TIPG}?limit=1", timeout_s=90)


def wrk(port: int, path: str, extra: str, seconds: int, connections: int) -> dict[str, float]:
    script = (
        LUA.replace("{seed}", str(port))
        .replace("{lat0}", str(BOX["lat"][0]))
        .replace("{dlat}", str(BOX["lat"][1] - BOX["lat"][0]))
        .replace("{lon0}", str(BOX["lon"][0]))
        .replace("{dlon}", str(BOX["lon"][1] - BOX["lon"][0]))
        .replace("{half}", str(HALF))
        .replace("{path}", path)
        .replace("{extra}", extra.replace("%", "%%"))
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
             "--latency", "-s", fh.name, f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(fh.name)

    return parse_wrk(out)


def export(base: str, collection: str, page_size: int, out: Path) -> tuple[float, int]:
    """Seconds for ogr2ogr to copy the whole collection, and the features it wrote."""
    out.unlink(missing_ok=True)
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    started = time.perf_counter()
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}", collection,
         "-oo", f"PAGE_SIZE={page_size}"],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, int(pyogrio.read_info(out)["features"])


def check_same_answer(ours: int, tipg: int) -> None:
    """Both servers must be answering the same question: one box, both counts."""
    box = "100.4,13.6,100.7,13.9"
    a = httpx.get(f"http://127.0.0.1:{ours}{OURS}?bbox={box}&limit=10&status=any").json()
    b = httpx.get(f"http://127.0.0.1:{tipg}{TIPG}?bbox={box}&limit=10").json()
    print(f"same box, numberMatched: locator {a['numberMatched']}, tipg {b['numberMatched']}")
    q = f"&filter={FILTER}"
    a = httpx.get(f"http://127.0.0.1:{ours}{OURS}?bbox={box}&limit=10&status=any{q}").json()
    b = httpx.get(f"http://127.0.0.1:{tipg}{TIPG}?bbox={box}&limit=10{q}").json()
    print(f"same box and filter: locator {a['numberMatched']}, tipg {b['numberMatched']}")


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--loads", default="16,1", help="connections: saturation, then one")
    parser.add_argument(
        "--export-rounds", type=int, default=3, help="full GDAL exports per server (0: none)"
    )
    parser.add_argument("--page-size", type=int, default=1000, help="ogr2ogr's PAGE_SIZE")
    args = parser.parse_args()
    for tool in ("wrk", "ogr2ogr"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install {'wrk' if tool == 'wrk' else 'gdal-bin'}")
    OUTPUT.mkdir(exist_ok=True)
    url = prepare(60_000)
    with serving(bench_env(url), workers=2) as ours, serving_tipg(url, OUTPUT / "tipg.log") as tipg:
        measure(args, ours.port, tipg.port)


def measure(args: argparse.Namespace, ours_port: int, tipg_port: int) -> None:
    loads = [int(c) for c in args.loads.split(",")]
    cases = (("bbox", ""), ("bbox + CQL2 filter", f"&filter={FILTER}"))
    servers = (("locator", ours_port, OURS), ("tipg", tipg_port, TIPG))
    runs: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    exports: dict[str, list[float]] = {"locator": [], "tipg": []}
    check_same_answer(ours_port, tipg_port)
    for _, port, path in servers:
        for _, extra in cases:
            wrk(port, path, extra, 3, loads[0])  # warm-up
    for round_ in range(1, args.rounds + 1):
        for label, extra in cases:
            for load in loads:
                line = f"round {round_} {label:18s} {load:2d} conn.:"
                for name, port, path in servers:
                    r = wrk(port, path, extra, args.seconds, load)
                    runs.setdefault((label, load, name), []).append(r)
                    line += (
                        f"  {name} {r['rps']:6.0f}/s p50 {r['p50']:6.2f} "
                        f"p99 {r['p99']:7.2f} ms ({r['errors']:.0f} non-2xx)"
                    )
                print(line, flush=True)
    for round_ in range(1, args.export_rounds + 1):
        for name, port, path in servers:
            collection = path.split("/")[2]
            seconds, count = export(
                f"http://127.0.0.1:{port}", collection, args.page_size,
                OUTPUT / f"export-{name}.gpkg",
            )  # fmt: skip
            exports[name].append(seconds)
            print(f"export round {round_}: {name} {count:,} features in {seconds:.1f} s",
                  flush=True)  # fmt: skip

    print(f"\nmedians over {args.rounds} rounds; ratio = locator / tipg (median of rounds')")
    print("case                conn. | locator req/s  p50 ms  p99 ms | tipg req/s  p50 ms  "
          "p99 ms | throughput ratio (each round)")  # fmt: skip
    for label, _ in cases:
        for load in loads:
            a, b = runs[(label, load, "locator")], runs[(label, load, "tipg")]
            ratios = [x["rps"] / y["rps"] for x, y in zip(a, b, strict=True)]
            print(
                f"{label:18s}  {load:5d} | {_median([r['rps'] for r in a]):13.0f}  "
                f"{_median([r['p50'] for r in a]):6.2f}  {_median([r['p99'] for r in a]):6.2f} | "
                f"{_median([r['rps'] for r in b]):10.0f}  {_median([r['p50'] for r in b]):6.2f}  "
                f"{_median([r['p99'] for r in b]):6.2f} | {_median(ratios):.1f}x "
                f"({', '.join(f'{r:.1f}' for r in ratios)})"
            )
    if args.export_rounds:
        a, b = exports["locator"], exports["tipg"]
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        print(
            f"\nfull GDAL export (PAGE_SIZE={args.page_size}): locator {_median(a):.1f} s, "
            f"tipg {_median(b):.1f} s; tipg takes {_median(ratios):.1f}x as long "
            f"(each round: {', '.join(f'{r:.1f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
