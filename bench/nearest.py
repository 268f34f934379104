"""Nearest-10 over HTTP against the same SQL run directly by pgbench (the ceiling).

Run by hand:  .venv/bin/python -m bench.nearest [--sizes 60000,600000] [--rounds 3]

For each registry size (a scaled registry for 600,000 points: the generated kinds'
counts multiplied, the real offices unchanged) it starts `locator serve` with two
workers on loopback and measures, one after the other on the same 2 cores:

- the API: wrk (Debian package) with a Lua script sending nearest-10 requests from
  random origins inside a box of central and northern Thailand (mostly land);
- the ceiling: pgbench running the very SQL the API runs (``nearest_sql``), from random
  origins in the same box, at the same concurrency;

both unfiltered and for a rare service (passport_issue, about 30 points per 60,000).
Each round runs every case once, API and SQL one after the other; the figures printed
at the end are medians over the rounds, the throughput ratio the median of the rounds'
own ratios. It also prints the CPU each API request cost in the server and in
PostgreSQL. Databases are kept between runs (``locator_bench_<size>``) so a second run
skips the load.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from locator import migrate
from locator.db import database_url, with_database
from locator.ingest.reference import load_reference
from locator.ingest.registry import load_registry
from locator.localdb import find_pg_bin
from locator.search import PointFilters, nearest_sql
from locator.settings import get_settings

BOX = {"lat": (13.0, 19.5), "lon": (99.0, 104.5)}
REAL_POINTS = 5_266
GENERATED_POINTS = 54_777
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(size: int) -> str:
    """A database holding a registry of about ``size`` points (kept for the next run)."""
    server = database_url()
    name = f"locator_bench_{size}"
    admin = create_engine(with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = with_database(server, name)
    engine = create_engine(url)
    migrate.upgrade(engine)
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


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOCATOR_DATABASE_URL": url}
    locator = str(Path(sys.executable).parent / "locator")
    proc = subprocess.Popen(
        [
            locator,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the server did not become ready")


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
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
         f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    os.unlink(script)

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def pgbench_script(service: str | None) -> str:
    statement, _ = nearest_sql(PointFilters(service=service), None)
    statement = statement.replace(":at", "now()").replace(":k", "10")
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


def run_pgbench(url: str, service: str | None, seconds: int, clients: int) -> dict[str, float]:
    parsed = make_url(url)
    folder = Path(tempfile.mkdtemp())
    script = folder / "nearest.sql"
    script.write_text(pgbench_script(service))
    host = str(parsed.query.get("host") or parsed.host or "localhost")
    port = str(parsed.query.get("port") or parsed.port or 5432)
    # the same plan the API runs: its prepared statements use the generic plan
    env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan"}
    out = subprocess.run(
        [str(find_pg_bin() / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
         "-T", str(seconds), "-f", str(script), "-l", "--log-prefix", str(folder / "log"),
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


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process we can see."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            out.append((int(entry.name), int(stat.rsplit(")", 1)[1].split()[1]), name))
    return out


class CpuMeter:
    """CPU seconds used by the API server (its process tree) and by PostgreSQL (every
    process named postgres on this machine: run the bench on a quiet box)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def sample(self) -> tuple[float, float]:
        procs = _processes()
        tree, grew = {self.server_pid}, True
        while grew:
            more = {pid for pid, ppid, _ in procs if ppid in tree} - tree
            tree |= more
            grew = bool(more)
        hz = os.sysconf("SC_CLK_TCK")
        api = sum(_cpu_ticks(pid) for pid in tree) / hz
        pg = sum(_cpu_ticks(pid) for pid, _, name in procs if name == "postgres") / hz
        return api, pg


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
        "--connections",
        type=int,
        default=16,
        help="concurrency of the throughput runs (saturation)",
    )
    parser.add_argument(
        "--light", type=int, default=2, help="concurrency of the latency runs (below saturation)"
    )
    parser.add_argument("--rare", default="passport_issue")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    cases = (("unfiltered", None), ("rare service", args.rare))
    light: dict[tuple[int, str], dict[str, float]] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        url = prepare(size)
        with create_engine(url).connect() as conn:
            points = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
            rare = conn.execute(
                text("SELECT count(*) FROM offering WHERE service_code = :s"), {"s": args.rare}
            ).scalar_one()
        print(f"\n== {points:,} points ({rare} offer {args.rare}); "
              f"{args.rounds} rounds of {args.seconds} s ==", flush=True)  # fmt: skip
        port = free_port()
        server = start_server(url, port)
        meter = CpuMeter(server.pid)
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        try:
            for _, service in cases:
                run_wrk(port, service, 3, args.connections)  # warm-up
            # API and SQL alternate within each round, so a slow spell on this shared
            # box hits both sides of a ratio alike
            for round_ in range(1, args.rounds + 1):
                for label, service in cases:
                    before = meter.sample()
                    api = run_wrk(port, service, args.seconds, args.connections)
                    after = meter.sample()
                    requests = api["rps"] * args.seconds
                    api["api_cpu_ms"] = (after[0] - before[0]) * 1000 / requests
                    api["pg_cpu_ms"] = (after[1] - before[1]) * 1000 / requests
                    sql = run_pgbench(url, service, args.seconds, args.connections)
                    api["ratio"] = api["rps"] / sql["rps"]
                    api_light = run_wrk(port, service, args.seconds, args.light)
                    sql_light = run_pgbench(url, service, args.seconds, args.light)
                    for what, result in (("api", api), ("sql", sql), ("api light", api_light),
                                         ("sql light", sql_light)):  # fmt: skip
                        runs.setdefault((label, what), []).append(result)
                    print(
                        f"round {round_} {label:12s} API {api['rps']:5.0f} req/s, "
                        f"SQL {sql['rps']:5.0f} tx/s ({api['ratio']:.0%}); "
                        f"API CPU {api['api_cpu_ms']:.2f} ms/req, PostgreSQL "
                        f"{api['pg_cpu_ms']:.2f} ms/req; light: API p50 "
                        f"{api_light['p50']:.2f} p99 {api_light['p99']:.2f} ms, SQL p50 "
                        f"{sql_light['p50']:.2f} p99 {sql_light['p99']:.2f} ms",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"\nmedians over {args.rounds} rounds, {points:,} points:")
        for label, _ in cases:
            api, sql = _summary(runs[(label, "api")]), _summary(runs[(label, "sql")])
            api_l, sql_l = (
                _summary(runs[(label, "api light")]),
                _summary(runs[(label, "sql light")]),
            )
            light[(size, label)] = api_l
            each = ", ".join(f"{r['ratio']:.0%}" for r in runs[(label, "api")])
            print(
                f"{label:13s} saturated ({args.connections} connections):\n"
                f"{'':13s} API    {api['rps']:8.0f} req/s  p50 {api['p50']:6.2f} ms  "
                f"p99 {api['p99']:6.2f} ms  non-2xx {api['errors']:.0f}\n"
                f"{'':13s} SQL    {sql['rps']:8.0f} tx/s   p50 {sql['p50']:6.2f} ms  "
                f"p99 {sql['p99']:6.2f} ms\n"
                f"{'':13s} API / SQL throughput: {api['ratio']:.0%} (median of the rounds' "
                f"ratios: {each})\n"
                f"{'':13s} CPU per API request: server {api['api_cpu_ms']:.2f} ms, "
                f"PostgreSQL {api['pg_cpu_ms']:.2f} ms\n"
                f"{'':13s} light load ({args.light} connections):\n"
                f"{'':13s} API    {api_l['rps']:8.0f} req/s  p50 "
                f"{api_l['p50']:6.2f} ms  p99 {api_l['p99']:6.2f} ms\n"
                f"{'':13s} SQL    {sql_l['rps']:8.0f} tx/s   p50 "
                f"{sql_l['p50']:6.2f} ms  p99 {sql_l['p99']:6.2f} ms",
                flush=True,
            )
        un, ra = light[(size, "unfiltered")], light[(size, "rare service")]
        print(f"rare service vs unfiltered (API p50, light load): {ra['p50'] / un['p50']:.2f}x")
    sizes = sorted({k[0] for k in light})
    if len(sizes) == 2:
        for label, _ in cases:
            small, big = (light[(s, label)]["p50"] for s in sizes)
            print(f"{sizes[1]:,} vs {sizes[0]:,} points, API p50 {label} (light load): "
                  f"{big / small:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
