"""The phases (a) to (f), one after the other, with the /healthz probe throughout."""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import (
    Pool,
    Record,
    closed_loop,
    get,
    lag_monitor,
    open_loop,
)
from bench.mixed_load.faults import (
    Restart,
    cluster_users,
    postmaster_started,
    restart_under_load,
    run_command,
)
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

        if args.no_fault:
            return {"phases": phases, "probes": probes, "lags": lags, "others": others}
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
        return {"phases": phases, "probes": probes, "lags": lags, "others": others}
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
