"""Mixed open-loop load, overload and a database restart, against a real server.

Run by hand:  .venv/bin/python -m bench.load [--seconds 60] [--workers 2]

What it answers: does the API hold its service at its saturation rate, refuse the
excess quickly when offered twice that, come back the moment the overload stops, and
survive PostgreSQL restarting under it (503, not 500, while it is down; normal again
within seconds; no acknowledged rating or agency write lost)?

Set-up: a scratch copy of the registry on the same cluster (``CREATE DATABASE ...
TEMPLATE locator`` when nobody is connected to the demo database, otherwise migrate +
reference + registry, which takes about 35 s), dropped at the end; or, with
``--private-cluster``, a throwaway cluster of its own, so that the restart in (e)
cuts off nobody else using the shared one (another engineer's tests); ``locator serve``
started as a subprocess against it, trusting X-Forwarded-For from 127.0.0.1 so each
rating can come from its own client address (the 3-per-client-per-point-per-day limit
is not what is measured). With the server up, one editor account per agency that writes
(below) is created in the scratch database (``accounts.create``), its key kept by the
client.

The mix, like citizens' use plus the agencies' upkeep: nearest 50 % (random origins in
Thailand's box, a third with a catalogue ``service``, half of those ``no_copy=true``; a
quarter ranked by ``rank=travel_time``, as the citizen page asks), search 15 % (English
and Thai place names and words of real point names fetched from the API), detail 12.5 %
(random existing ids), coverage 0.5 % (``GET /v1/coverage`` of a random catalogue
service, by district, province or tambon, half of them no-copy, a fifth with 3 suggested
sites: an analyst's national question among the citizens' traffic), OGC items 5 % (small
random boxes, limit 10), ratings 5 %, routes 5 % (between random junctions of a real
road network, ``--roads``, Liechtenstein's by default, which is imported for the run and
routed by OSRM; a fifth on foot), isochrones 2 % (from random junctions, 5 to 30
minutes, a fifth on foot, on the same network's graph), agency writes 5 %.

Agency writes (``Authorization: Bearer <key>``, ``If-Match``): about 400 points of 12
provinces drawn at set-up (district offices, police stations, land and revenue offices,
health-promoting hospitals; pins well inside their own tambon, no pin-check finding), each
edited with its agency's key: ``patch`` 62 % of the writes (``PATCH /v1/points/{id}``:
new phones, always, plus in half of them the pin moved 2-20 m from where it was at the
start, so it stays in its tambon, in 30 % other opening hours, in 30 % wheelchair),
``offering`` 32 % (``PUT /v1/points/{id}/offerings/{service}`` of a service the point
offers: ``copies_required`` [] or, in 40 %, one of the service's documents; a note),
``create`` 6 % (``POST /v1/points``: a district office with a unique name by the
province's DOPA office, in one of its tambons, well inside it and 300 m or more from any
district office; edited afterwards like the others). The
ETag: the client keeps each point's last ETag from the answers it got (a write's 2xx, a
412's current one); a point whose ETag it does not know (at first, or after a write whose
outcome it cannot know: a 503, a timeout, a broken connection) is read first, ``GET
/v1/points/{id}`` (kind ``etag_get``, in the writes' 5 %), and edited at the next write.
So a write never sends ``If-Match: *``, and one point has one write in flight, but for
about 3 % of the writes: a colleague editing a point already being edited, with the same
ETag (of the two at most one wins, the other gets a 412). 409, 412 and 422 are counted
and reported, not errors; any other 4xx to a write is a failed target.
Every write answered 2xx (its point, version and values, and a marker: the phone number,
the offering's note, the new office's name) is checked in the database after the run:
the version at least the acknowledged one, the marker's row in the change log, and, where
no later write landed on that point, the values themselves.

Phases: (a) closed loop, 16 connections: its 2xx throughput is the saturation rate R;
(b) open loop at R; (c) at 2R; (d) at 0.7R, right after (c): the recovery; then (e)
at 0.5R with PostgreSQL stopped at ``--fault-at`` and started again ``--down`` seconds
later; (f) at 0.5R with the routing engine stopped (``locator roads stop``) at
``--fault-at`` and started again ``--down`` seconds later: routes get a quick 503,
the travel-time ranking falls back to the labelled distance order, nothing else
notices. (b), (c) and (d) follow each other without a gap. A probe asks ``/healthz``
every 100 ms on its own connection throughout. The load generator is ``bench.loadgen``
(asyncio + uvloop, latency counted from each request's scheduled time).

Prints tables and the pass/fail of each target; writes everything as JSON to
``bench/output/load-<time>.json``, and the server's own log beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import uvloop
from sqlalchemy.engine import make_url

from bench.common import bench_env
from bench.mixed_load.attackers import SLOW_CLIENTS
from bench.mixed_load.meters import Meter
from bench.mixed_load.phases import Phase, run_all
from bench.mixed_load.report import check_ratings, check_writes, print_abuse, print_report
from bench.mixed_load.scratch import imported_roads, private_cluster, scratch_registry
from bench.mixed_load.traffic import fetch_mix
from locator.settings import get_settings
from tests.support.places import LIECHTENSTEIN
from tests.support.servers import HOST, proxying, serving

OUTPUT = Path(__file__).resolve().parent / "output"
PROXIED_RATING_LIMITS = {
    "LOCATOR_RATINGS_PER_CLIENT_PER_DAY": "1000000000",
    "LOCATOR_RATINGS_PER_CLIENT_PER_POINT_PER_DAY": "1000000000",
}
"""Through the proxy the ratings' own client addresses (X-Forwarded-For) are replaced by
nginx with the load generator's one address: the limits per client would refuse them."""


def code_version() -> str:
    """The commit the server ran, and whether its code had uncommitted changes (another
    engineer may be changing it while this runs)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "locator", "migrations"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def _slow_clients(value: str) -> list[str]:
    names = [] if value == "none" else [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in SLOW_CLIENTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown)}: no such slow client; choose from {', '.join(SLOW_CLIENTS)}"
        )
    return names


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="length of (b), (c) and (e)")
    parser.add_argument(
        "--recovery-seconds",
        type=float,
        default=None,
        help="length of (d); default a third of --seconds",
    )
    parser.add_argument("--saturation-seconds", type=float, default=12, help="length of (a)")
    parser.add_argument(
        "--recovery-rate",
        type=float,
        default=0.7,
        help="(d)'s rate as a share of R: a rate the server can carry, so that (d) shows "
        "whether it serves everything again once the overload stops",
    )
    parser.add_argument(
        "--saturation-only", action="store_true", help="stop after (a) (to compare --workers)"
    )
    parser.add_argument("--connections", type=int, default=16, help="closed-loop clients in (a)")
    parser.add_argument("--rate", type=float, default=None, help="skip (a): R in requests/s")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--fault-at",
        type=float,
        default=None,
        help="second of (e) at which PostgreSQL stops; default a third of it",
    )
    parser.add_argument("--down", type=float, default=3, help="seconds PostgreSQL stays down")
    parser.add_argument("--no-fault", action="store_true", help="skip (e) and (f)")
    parser.add_argument(
        "--roads",
        type=Path,
        default=LIECHTENSTEIN,
        help="the OSM extract imported for the routes (default: Liechtenstein's)",
    )
    parser.add_argument(
        "--no-roads", action="store_true", help="no road network: no routes, no (f)"
    )
    parser.add_argument("--settle", type=float, default=5, help="pause before (e), seconds")
    parser.add_argument("--timeout", type=float, default=10, help="client timeout, seconds")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=2048,
        help="the client's connection cap; beyond it a request is 'backlog'",
    )
    parser.add_argument(
        "--clone",
        choices=("auto", "template", "build"),
        default="auto",
        help="how the scratch registry is made (see scratch_registry)",
    )
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="every phase through nginx, as `locator proxy-config --plain-http` renders it, "
        "in front of the server (run once with and once without to compare)",
    )
    parser.add_argument(
        "--private-cluster",
        action="store_true",
        help="run on a throwaway cluster of our own (built, about a minute), so that the "
        "restart in (e) disturbs nobody else using the shared one",
    )
    abuse = parser.add_argument_group("(g) and (h): normal traffic without, then beside, attacks")
    abuse.add_argument(
        "--abuse-seconds", type=float, default=20, help="length of (g) and (h); 0 skips both"
    )
    abuse.add_argument(
        "--abuse-rate", type=float, default=0.5, help="(g) and (h)'s rate as a share of R"
    )
    abuse.add_argument(
        "--abuse-files",
        type=int,
        default=2,
        help="connections posting hostile files to an agency's import door in (h); 0: none",
    )
    abuse.add_argument(
        "--attacker",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="another attack run beside (h), called with (host, port, seconds), e.g. the "
        "slow clients of tests/support/attacks.py; repeatable",
    )
    abuse.add_argument(
        "--slow-clients",
        type=_slow_clients,
        default=list(SLOW_CLIENTS),
        metavar="NAME,...",
        help=f"the slow clients beside (h), of {', '.join(SLOW_CLIENTS)} (default all), or 'none'",
    )
    abuse.add_argument(
        "--slow-connections",
        type=int,
        default=16,
        help="connections each slow-client attack holds at once in (h)",
    )
    abuse.add_argument(
        "--abuse-only", action="store_true", help="skip (b), (c) and (d): (a), then (g) and (h)"
    )
    args = parser.parse_args()
    args.recovery_seconds = args.recovery_seconds or max(1, round(args.seconds / 3))
    args.fault_at = args.fault_at if args.fault_at is not None else args.seconds / 3
    if not args.no_fault and not args.private_cluster and get_settings().database_url:
        sys.exit(
            "LOCATOR_DATABASE_URL is set: the fault phase restarts the embedded cluster "
            "only; unset it, or pass --private-cluster or --no-fault"
        )

    OUTPUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = OUTPUT / f"load-{stamp}-server.log"
    with contextlib.ExitStack() as stack:
        if args.private_cluster:
            settings, args.cluster_env = stack.enter_context(private_cluster())
            print(f"private cluster in {settings.state_dir}", flush=True)
            mode = "build"  # nothing there to clone
        else:
            settings, args.cluster_env, mode = get_settings(), {}, args.clone
        url, how = stack.enter_context(scratch_registry(mode, settings))
        print(f"scratch registry: {how}", flush=True)
        args.roads_env = {}
        if not args.no_roads:
            args.roads_env = stack.enter_context(imported_roads(url, args.roads))
        server_env = bench_env(url, LOCATOR_TRUSTED_PROXIES=HOST, **args.roads_env)
        if args.proxy:  # nginx sets X-Forwarded-For itself: every rating is one client's
            server_env.update(PROXIED_RATING_LIMITS)
        with serving(server_env, workers=args.workers, log=log) as server:
            port = server.port
            if args.proxy:
                prefix = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nginx-")))
                proxy, _ = stack.enter_context(proxying(server.port, prefix, server_env))
                port = proxy.port
                print(f"through nginx on port {port} (config in {prefix})", flush=True)
            mix = fetch_mix(f"http://{HOST}:{port}", url)
            print(
                f"server ({code_version()}): {args.workers} worker(s) on port {port}; mix "
                f"from {len(mix.services)} services, {len(mix.words)} search words, "
                f"{len(mix.ids):,} ids, {len(mix.junctions):,} road junctions",
                flush=True,
            )
            meter = Meter(server.process.pid, make_url(url).database or "")
            result = uvloop.run(run_all(args, port, url, mix, meter))
        phases: list[Phase] = result["phases"]
        rate = next((p.rate for p in phases if p.name == "b"), args.rate or math.nan)
        ratings = check_ratings(url, [p for p in phases if p.name != "a"])
        writes = check_writes(url, phases)
        report = print_report(
            phases, result["probes"], result["lags"], result["others"], ratings, writes, rate
        )
        if "hostile" in result:
            report["abuse"] = print_abuse(
                report, phases, result["hostile"], result["attackers"], writes
            )
        report["config"] = {
            **vars(args),
            "R": rate,
            "scratch": how,
            "server_log": str(log),
            "code": code_version(),
        }
        path = OUTPUT / f"load-{stamp}.json"
        path.write_bytes(orjson.dumps(report, default=str, option=orjson.OPT_INDENT_2))
        print(f"\nwritten: {path}; server log: {log}")


if __name__ == "__main__":
    main()
