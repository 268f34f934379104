"""The phases (a) to (f), one after the other, with the /healthz probe throughout."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import inspect
import itertools
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.loadgen import (
    Pool,
    Record,
    Request,
    closed_loop,
    get,
    lag_monitor,
    open_loop,
)
from bench.mixed_load.attackers import SLOW_CLIENTS
from bench.mixed_load.faults import (
    Restart,
    cluster_users,
    postmaster_started,
    restart_under_load,
    run_command,
)
from bench.mixed_load.hostile import bodies
from bench.mixed_load.meters import Meter, others_per_second
from bench.mixed_load.traffic import Mix
from tests.support.cli import LOCATOR
from tests.support.servers import HOST


@dataclass
class Phase:
    name: str
    label: str
    rate: float  # offered requests/s (closed loop: the measured throughput)
    start: float
    end: float
    records: list[Record]
    cpu: dict[str, float] = field(default_factory=dict)
    peak_connections: int = 0
    events: dict[str, float] = field(default_factory=dict)  # fault times, phase-relative


async def periodic(pool: Pool, kind: str, raw: bytes, interval: float, out: list[Record]) -> None:
    """A probe at fixed times: a tick whose connection is still busy is a ``backlog``."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        rec = Record(kind, due)
        out.append(rec)
        pool.fire(rec, raw)
        due += interval


def restart_phase(name: str, label: str, run: Restart, meter: Meter, pool: Pool) -> Phase:
    return Phase(
        name,
        label,
        run.rate,
        run.start,
        run.start + run.seconds,
        run.records,
        meter.lap(),
        pool.peak,
        run.events,
    )


async def engine_restart(
    args: argparse.Namespace, pool: Pool, mix: Mix, rate: float, meter: Meter
) -> Phase:
    """(f): 0.5R with the routing engines stopped at ``--fault-at`` for ``--down`` s."""
    run = await restart_under_load(args, pool, mix, rate, meter, "roads", args.roads_env)
    print(f"(f) 0.5R with a routing engine restart: {run.summary()}", flush=True)
    return restart_phase("f", "0.5R, engine restart", run, meter, pool)


async def run_all(
    args: argparse.Namespace, port: int, url: str, mix: Mix, meter: Meter
) -> dict[str, Any]:
    """Every phase in turn, the probe throughout; returns the phases and the probe."""
    loop = asyncio.get_running_loop()
    pool = Pool(HOST, port, args.max_connections, timeout_s=args.timeout)
    probe_pool = Pool(HOST, port, 1, timeout_s=args.timeout)
    probes: list[Record] = []
    probe = loop.create_task(periodic(probe_pool, "healthz", get(HOST, "/healthz"), 0.1, probes))
    lags: list[tuple[float, float]] = []
    monitor = loop.create_task(lag_monitor(lags))
    others: list[tuple[float, float]] = []
    sampler = loop.create_task(others_per_second(meter, others))
    phases: list[Phase] = []
    db_down = False
    try:
        await closed_loop(pool, mix.request, args.connections, 3)  # warm-up, not counted
        await pool.drain(args.timeout)
        meter.lap()
        gc.collect()
        gc.freeze()
        gc.disable()  # a full collection over 10^5 records would stall the client

        if args.rate:
            rate = args.rate
            print(f"(a) skipped: R = {rate:.0f}/s given", flush=True)
        else:
            start = loop.time()
            recs = await closed_loop(pool, mix.request, args.connections, args.saturation_seconds)
            await pool.drain(args.timeout)
            end = start + args.saturation_seconds
            ok = sum(1 for r in recs if 200 <= r.status < 300)
            rate = ok / (loop.time() - start)
            phases.append(
                Phase(
                    "a",
                    f"closed loop, {args.connections} conn.",
                    rate,
                    start,
                    end,
                    recs,
                    meter.lap(),
                    pool.peak,
                )
            )
            print(
                f"(a) saturation: {len(recs)} requests in {args.saturation_seconds:g} s, "
                f"{ok} 2xx: R = {rate:.0f}/s",
                flush=True,
            )
            if args.saturation_only:
                return {"phases": phases, "probes": probes, "lags": lags, "others": others}
            await asyncio.sleep(2)

        plan = [
            ("b", "R", rate, args.seconds),
            ("c", "2R", 2 * rate, args.seconds),
            ("d", f"{args.recovery_rate:g}R", args.recovery_rate * rate, args.recovery_seconds),
        ]
        if args.abuse_only:
            plan = []
        batches = [mix.batch(math.ceil(r * s)) for _, _, r, s in plan]
        start = loop.time() + 0.2
        meter.lap()
        for (name, label, r, seconds), batch in zip(plan, batches, strict=True):
            pool.peak = pool.open_count
            recs = await open_loop(pool, batch, r, start)
            phases.append(
                Phase(name, label, r, start, start + seconds, recs, meter.lap(), pool.peak)
            )
            print(f"({name}) {label}: {len(recs)} requests at {r:.0f}/s sent", flush=True)
            start += seconds
        await pool.drain(args.timeout + 1)
        gc.enable()
        gc.collect()
        gc.disable()

        extra: dict[str, Any] = {}
        if args.abuse_seconds > 0:
            await asyncio.sleep(2)
            hostile: list[Record] = []
            attackers = [load_attacker(spec) for spec in args.attacker]
            attackers += [SLOW_CLIENTS[name](args.slow_connections) for name in args.slow_clients]
            if mix.agencies is not None and args.abuse_files > 0:
                agency, key = next(iter(mix.agencies.keys.items()))
                files = hostile_files_attacker(HOST, agency, key, args.abuse_files, hostile)
                attackers.insert(0, files)
            abuse, outcomes = await abuse_phases(args, pool, mix, rate, meter, port, attackers)
            phases.extend(abuse)
            extra = {"attackers": outcomes, "hostile": hostile}
            gc.enable()
            gc.collect()
            gc.disable()

        if args.no_fault:
            return {"phases": phases, "probes": probes, "lags": lags, "others": others, **extra}
        await asyncio.sleep(args.settle)
        neighbours = cluster_users(url)
        if neighbours:
            print(
                f"note: the restart in (e) also cuts off other users of the cluster: {neighbours}"
            )

        def db_stopped(stopped: bool) -> None:
            nonlocal db_down
            db_down = stopped

        run = await restart_under_load(
            args, pool, mix, rate, meter, "db", args.cluster_env, db_stopped
        )
        # anything else using the cluster (a test run) starts it on demand, maybe before
        # our `db start`: when PostgreSQL really came back is the postmaster's start time
        run.events["postmaster_started"] = postmaster_started(url) - run.wall_start
        phases.append(restart_phase("e", "0.5R, database restart", run, meter, pool))
        print(f"(e) 0.5R with a database restart: {run.summary()}", flush=True)
        if args.roads_env:
            await asyncio.sleep(args.settle)
            phases.append(await engine_restart(args, pool, mix, rate, meter))
        return {"phases": phases, "probes": probes, "lags": lags, "others": others, **extra}
    finally:
        gc.enable()
        probe.cancel()
        for task in (monitor, sampler):
            if task.done() and not task.cancelled() and task.exception():
                print(f"note: a helper task failed: {task.exception()!r}")
            task.cancel()
        pool.close()
        probe_pool.close()
        if db_down:  # never leave the shared cluster stopped
            await run_command([LOCATOR, "db", "start"], args.cluster_env)


# --- (g) and (h): normal traffic without, then beside, attackers (issue 20) ----------
Attacker = Callable[[str, int, float], Any]
"""An attack run beside (h)'s normal traffic: called with the server's host, port and the
phase's seconds; a coroutine function is awaited, a plain function runs in a thread. It
returns what it wants reported (a dict, say). The slow clients (bench/mixed_load/attackers.py,
calling tests/support/attacks.py) are on by default (``--slow-clients``), the hostile-files
attacker below too (``--abuse-files``); ``--attacker MODULE:NAME`` adds any other."""


def load_attacker(spec: str) -> Attacker:
    """``MODULE:NAME`` (``tests.support.attacks:slow_body``) as the callable it names."""
    module, _, name = spec.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not callable(found):
        raise SystemExit(f"--attacker {spec}: not a callable")
    return cast(Attacker, found)


def hostile_files_attacker(
    host: str, agency: str, key: str, connections: int, records: list[Record]
) -> Attacker:
    """An agency's editor posting hostile files (bench/mixed_load/hostile.py) to its own
    import door, back to back on ``connections`` connections; every answer is kept in
    ``records`` (kind ``hostile``; its ``ctx`` names the file)."""
    with tempfile.TemporaryDirectory() as folder:
        files = bodies(Path(folder))
    path = f"/v1/agencies/{agency}/points:import?dry_run=true"
    raws = [
        (name, f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
         f"Authorization: Bearer {key}\r\nContent-Type: {media}\r\n"
         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        for name, media, body in files
    ]  # fmt: skip
    turn = itertools.count()

    def next_file() -> Request:
        name, raw = raws[next(turn) % len(raws)]
        return Request("hostile", raw, lambda rec: _named(rec, name, raw))

    async def hostile_files(host: str, port: int, seconds: float) -> dict[str, Any]:
        pool = Pool(host, port, connections, timeout_s=max(30.0, seconds))
        try:
            records.extend(await closed_loop(pool, next_file, connections, seconds))
            await pool.drain(30)
        finally:
            pool.close()
        return {"posted": len(records)}

    return hostile_files


def _named(rec: Record, name: str, raw: bytes) -> bytes:
    rec.ctx = name
    return raw


async def _run_attacker(attacker: Attacker, host: str, port: int, seconds: float) -> Any:
    if inspect.iscoroutinefunction(attacker):
        return await attacker(host, port, seconds)
    return await asyncio.to_thread(attacker, host, port, seconds)


async def abuse_phases(
    args: argparse.Namespace,
    pool: Pool,
    mix: Mix,
    rate: float,
    meter: Meter,
    port: int,
    attackers: list[Attacker],
) -> tuple[list[Phase], dict[str, Any]]:
    """(g) normal traffic at ``--abuse-rate`` x R for ``--abuse-seconds``; (h) the same
    traffic again with every attacker running beside it. Their normal traffic's latency
    side by side is what the attacks cost the citizens; the agency writes in both are
    checked after the run like every phase's (none may be lost)."""
    loop = asyncio.get_running_loop()
    r, seconds = args.abuse_rate * rate, args.abuse_seconds
    phases: list[Phase] = []
    outcomes: dict[str, Any] = {}
    for name, label, attacking in (("g", "no attack", False), ("h", "under attack", True)):
        batch = mix.batch(math.ceil(r * seconds))
        start = loop.time() + 0.2
        meter.lap()
        pool.peak = pool.open_count
        running = [
            loop.create_task(_run_attacker(a, HOST, port, seconds))
            for a in (attackers if attacking else [])
        ]
        recs = await open_loop(pool, batch, r, start)
        await pool.drain(args.timeout + 1)
        results = await asyncio.gather(*running, return_exceptions=True)
        for attacker, result in zip(attackers if attacking else [], results, strict=True):
            outcomes[getattr(attacker, "__name__", repr(attacker))] = (
                repr(result) if isinstance(result, BaseException) else result
            )
        phases.append(
            Phase(name, f"{args.abuse_rate:g}R, {label}", r, start, start + seconds, recs,
                  meter.lap(), pool.peak)
        )  # fmt: skip
        print(f"({name}) {args.abuse_rate:g}R, {label}: {len(recs)} requests sent", flush=True)
        await asyncio.sleep(2)
    return phases, outcomes
