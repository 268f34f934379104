"""Nearest-10 over HTTP against the same SQL run directly by pgbench (the ceiling).

Run by hand:  .venv/bin/python -m bench.nearest [--sizes 60000,600000] [--rounds 3]

For each registry size (a scaled registry for 600,000 points: the generated kinds'
counts multiplied, the real offices unchanged) it starts `locator serve` with two
workers on loopback, and measures, one after the other on the same 2 cores:

- the API: wrk (Debian package) with a Lua script sending nearest-10 requests from
  random origins inside a box of central and northern Thailand (mostly land);
- its own SQL: pgbench running the very SQL the API runs (``nearest_sql``), from random
  origins in the same box, at the same concurrency;
- the floor of any nearest search: a bare GiST KNN on the same table through pgbench
  (``SELECT id FROM service_point ORDER BY geog <-> origin LIMIT 10``; for the rare
  service the same on the offering table's composite index), same origins and load;

at three loads: saturation (16 connections: the throughput ratio), a moderate load (4)
and one client at a time (1: the latency ratios, free of how the connections happen to
spread over the two server processes);

both unfiltered and for a rare service (passport_issue, about 30 points per 60,000).
Each round runs every size, case and load once, API, SQL and bare KNN one after the
other; the figures printed at the end are medians over the rounds, and each ratio is
the median of the rounds' own ratios. The targets (issue 20): the API at >= 25 % of the
bare KNN's throughput at saturation, and the API's p50 at one connection <= 2x its own
SQL's. It also prints the CPU each API request cost in the server and in PostgreSQL.
Databases are kept between runs (``locator_bench_<size>``) so a second run skips the
load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import CpuMeter, bench_database, bench_env, parse_wrk
from locator.db.cluster import find_pg_bin
from locator.ingest.reference import load_reference
from locator.ingest.registry import load_registry
from locator.query.filters import PointFilter
from locator.query.nearest import nearest_sql
from locator.settings import get_settings
from tests.support.servers import serving

BOX = {"lat": (13.0, 19.5), "lon": (99.0, 104.5)}
REAL_POINTS = 5_266
GENERATED_POINTS = 54_815
LUA = """
math.randomseed(os.time())
local service = os.getenv("BENCH_SERVICE") or ""
request = function()
  local lat = {lat0} + math.random() * {dlat}
  local lon = {lon0} + math.random() * {dlon}
  local path = string.format("/v1/points/nearest?lat=%.5f&lon=%.5f&k=10", lat, lon)
  if service ~= "" then path = path .. "&service=" .. service end
  return wrk.format("GET", path)
end
"""


def prepare(size: int) -> str:
    """A database holding a registry of about ``size`` points (kept for the next run)."""
    url = bench_database(f"locator_bench_{size}")
    engine = create_engine(url)
    with engine.connect() as conn:
        tambons = conn.execute(text("SELECT count(*) FROM admin_area")).scalar_one()
        points = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
    settings = get_settings()
    if not tambons:
        load_reference(engine, settings.data_dir)
    if abs(points - size) > size * 0.05:
        scale = (size - REAL_POINTS) / GENERATED_POINTS
        print(f"loading a registry of ~{size:,} points (scale {scale:.3f}) ...", flush=True)
        started = time.perf_counter()
        report = load_registry(
            engine, settings.data_dir, settings.catalogue_dir, replace=True, scale=scale
        )
        print(f"  {report.points:,} points, {report.offerings:,} offerings in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    engine.dispose()
    return url


def run_wrk(port: int, service: str | None, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(
            LUA.replace("{lat0}", str(BOX["lat"][0]))
            .replace("{dlat}", str(BOX["lat"][1] - BOX["lat"][0]))
            .replace("{lon0}", str(BOX["lon"][0]))
            .replace("{dlon}", str(BOX["lon"][1] - BOX["lon"][0]))
        )
        script = fh.name
    env = {**os.environ, "BENCH_SERVICE": service or ""}
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", script, f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    os.unlink(script)

    return parse_wrk(out)


BARE_KNN = (
    "SELECT id FROM service_point "
    "ORDER BY geog <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography LIMIT 10"
)
BARE_KNN_SERVICE = (
    "SELECT point_id FROM offering WHERE service_code = '{service}' "
    "ORDER BY geog <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography LIMIT 10"
)


def pgbench_script(service: str | None, bare: bool = False) -> str:
    """pgbench's script: the API's own SQL, or (``bare``) the bare KNN, from random
    origins in ``BOX``."""
    statement, _ = nearest_sql(PointFilter(service=service), None)
    if bare:
        statement = BARE_KNN_SERVICE.format(service=service) if service else BARE_KNN
    # every parameter but the origin as a literal (pgbench leaves a name it does not
    # know as it is, which the server then reads as something else)
    statement = statement.replace(":at", "now()").replace(":k", "10")
    statement = statement.replace(":status", "'active'")
    if ":reach" in statement:  # the served area's bound, as the API sends it
        statement = statement.replace(":reach", str(get_settings().max_origin_gap_m))
    if service:
        statement = statement.replace(":service", f"'{service}'")
    statement = " ".join(statement.split())  # pgbench wants one line per command
    lat0, lat1 = BOX["lat"]
    lon0, lon1 = BOX["lon"]
    return (
        f"\\set lat {lat0} + random(0, 1000000) * {(lat1 - lat0) / 1e6}\n"
        f"\\set lon {lon0} + random(0, 1000000) * {(lon1 - lon0) / 1e6}\n"
        f"{statement};\n"
    )


def run_pgbench(
    url: str, service: str | None, seconds: int, clients: int, bare: bool = False
) -> dict[str, float]:
    parsed = make_url(url)
    folder = Path(tempfile.mkdtemp())
    script = folder / "nearest.sql"
    script.write_text(pgbench_script(service, bare))
    host = str(parsed.query.get("host") or parsed.host or "localhost")
    port = str(parsed.query.get("port") or parsed.port or 5432)
    # the same plan the API runs: its prepared statements use the generic plan
    env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan"}
    out = subprocess.run(
        [str(find_pg_bin() / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
         "-j", str(min(2, clients)), "-T", str(seconds), "-f", str(script), "-l",
         "--log-prefix", str(folder / "log"),
         "-h", host, "-p", port, "-U", parsed.username or "postgres", parsed.database or ""],
        capture_output=True, text=True, check=True, cwd=folder, env=env,
    ).stdout  # fmt: skip
    latencies = []
    for log in folder.glob("log*"):
        for line in log.read_text().splitlines():
            latencies.append(int(line.split()[2]) / 1000)  # microseconds -> ms
    shutil.rmtree(folder)
    latencies.sort()
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {
        "rps": tps,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "errors": 0.0,
    }


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="60000,600000")
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per case; the figures are medians"
    )
    parser.add_argument(
        "--loads",
        default="16,4,1",
        help="connections of each load level: the first saturates (the throughput ratio), "
        "the last is one client at a time (the latency ratios)",
    )
    parser.add_argument("--rare", default="passport_issue")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    cases = (("unfiltered", None), ("rare service", args.rare))
    sizes = [int(s) for s in args.sizes.split(",")]
    loads = [int(c) for c in args.loads.split(",")]
    saturated, unloaded = loads[0], loads[-1]
    urls = {size: prepare(size) for size in sizes}
    for size, url in urls.items():
        with create_engine(url).connect() as conn:
            points = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
            rare = conn.execute(
                text("SELECT count(*) FROM offering WHERE service_code = :s"), {"s": args.rare}
            ).scalar_one()
        print(f"registry {size:,}: {points:,} points, {rare} offer {args.rare}")
    print(f"{args.rounds} rounds; in each, every size, case and load once, API then SQL, "
          f"{args.seconds} s a measurement\n", flush=True)  # fmt: skip
    # one server per registry, all up at once: an idle one costs nothing, and the sizes
    # can then alternate within each round like API and SQL do, so a slow spell on this
    # shared box hits both sides of every ratio alike
    runs: dict[tuple[int, str, int, str], list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            size: stack.enter_context(serving(bench_env(urls[size]), workers=2)) for size in sizes
        }
        ports = {size: server.port for size, server in servers.items()}
        for size in sizes:
            for _, service in cases:
                run_wrk(ports[size], service, 3, saturated)  # warm-up
        for round_ in range(1, args.rounds + 1):
            for size in sizes:
                meter = CpuMeter(servers[size].process.pid)
                for label, service in cases:
                    line = [f"round {round_} {size:>7,} {label:12s}"]
                    for load in loads:
                        before = meter.sample()
                        api = run_wrk(ports[size], service, args.seconds, load)
                        server_s, pg_s = meter.used(before, meter.sample())
                        requests = api["rps"] * args.seconds
                        api["api_cpu_ms"] = server_s * 1000 / requests
                        api["pg_cpu_ms"] = pg_s * 1000 / requests
                        sql = run_pgbench(urls[size], service, args.seconds, load)
                        knn = run_pgbench(urls[size], service, args.seconds, load, bare=True)
                        api["ratio"] = api["rps"] / sql["rps"]
                        api["knn_ratio"] = api["rps"] / knn["rps"]
                        api["p50_over_sql"] = api["p50"] / sql["p50"]
                        runs.setdefault((size, label, load, "api"), []).append(api)
                        runs.setdefault((size, label, load, "sql"), []).append(sql)
                        runs.setdefault((size, label, load, "knn"), []).append(knn)
                        line.append(
                            f"  {load:2d} conn.: API {api['rps']:5.0f}/s p50 {api['p50']:.2f} "
                            f"p99 {api['p99']:.2f} ms, SQL {sql['rps']:5.0f}/s p50 "
                            f"{sql['p50']:.2f} p99 {sql['p99']:.2f} ms ({api['ratio']:.0%}), "
                            f"bare KNN {knn['rps']:5.0f}/s p50 {knn['p50']:.2f} ms "
                            f"({api['knn_ratio']:.0%}); CPU/request API "
                            f"{api['api_cpu_ms']:.2f} ms, PostgreSQL {api['pg_cpu_ms']:.2f} ms"
                        )
                    print("\n".join(line), flush=True)

    def p50_ratio(a: tuple[int, str], b: tuple[int, str]) -> str:
        """Median over the rounds of the unloaded API p50 ratio a / b, and each round's."""
        ratios = [
            x["p50"] / y["p50"]
            for x, y in zip(runs[(*a, unloaded, "api")], runs[(*b, unloaded, "api")], strict=True)
        ]
        return f"{statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)})"

    print(f"\nmedians over {args.rounds} rounds (ratios: median of the rounds' own ratios)")
    print("registry  query         conn.  API req/s  p50 ms  p99 ms | SQL tx/s  p50 ms  "
          "p99 ms | KNN tx/s  p50 ms | API/SQL  API/KNN  p50 API/SQL | "
          "CPU/req API  PG ms")  # fmt: skip
    for size in sizes:
        for label, _ in cases:
            for load in loads:
                api = _summary(runs[(size, label, load, "api")])
                sql = _summary(runs[(size, label, load, "sql")])
                knn = _summary(runs[(size, label, load, "knn")])
                print(
                    f"{size:>8,}  {label:12s}  {load:5d}  {api['rps']:9.0f}  {api['p50']:6.2f}  "
                    f"{api['p99']:6.2f} | {sql['rps']:8.0f}  {sql['p50']:6.2f}  "
                    f"{sql['p99']:6.2f} | {knn['rps']:8.0f}  {knn['p50']:6.2f} | "
                    f"{api['ratio']:7.0%}  {api['knn_ratio']:7.0%}  {api['p50_over_sql']:10.2f}x | "
                    f"{api['api_cpu_ms']:11.2f}  {api['pg_cpu_ms']:5.2f}"
                )
        for label, _ in cases:
            throughput = [r["knn_ratio"] for r in runs[(size, label, saturated, "api")]]
            latency = [r["p50_over_sql"] for r in runs[(size, label, unloaded, "api")]]
            print(
                f"{'':8s}  {label}: API / bare KNN at {saturated} connections "
                f"{statistics.median(throughput):.0%} ("
                + ", ".join(f"{r:.0%}" for r in throughput)
                + f"; target >= 25 %); API / SQL p50 at {unloaded} "
                f"{statistics.median(latency):.2f}x ("
                + ", ".join(f"{r:.2f}" for r in latency)
                + "; target <= 2x)"
            )
    print()
    for size in sizes:
        print(f"{size:,} points, rare service vs unfiltered, API p50 at {unloaded} connection(s): "
              + p50_ratio((size, "rare service"), (size, "unfiltered")))  # fmt: skip
    if len(sizes) == 2:
        small, big = sorted(sizes)
        for label, _ in cases:
            print(f"{big:,} vs {small:,} points, {label}, API p50 at {unloaded} connection(s): "
                  + p50_ratio((big, label), (small, label)))  # fmt: skip


if __name__ == "__main__":
    main()
