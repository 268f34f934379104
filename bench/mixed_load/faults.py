"""Faults under load: PostgreSQL or the routing engines stopped, then started again."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.loadgen import Pool, Record, open_loop
from bench.mixed_load.meters import Meter
from bench.mixed_load.traffic import Mix
from locator.db.engine import with_database
from tests.support.cli import LOCATOR


async def run_command(args: list[str], extra_env: dict[str, str]) -> tuple[int, str]:
    """A command without blocking the event loop (the load goes on meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k != "LOCATOR_DATABASE_URL"} | extra_env
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def cluster_users(url: str) -> dict[str, int]:
    """Sessions per database of everyone else on the cluster (not ours, not the server's)."""
    engine = create_engine(with_database(url, "postgres"), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT datname, count(*) FROM pg_stat_activity WHERE datname IS NOT NULL "
                "AND datname <> :ours AND pid <> pg_backend_pid() GROUP BY datname"
            ),
            {"ours": make_url(url).database},
        ).all()
    return {name: n for name, n in rows}


def postmaster_started(url: str) -> float:
    """When PostgreSQL last started (epoch seconds)."""
    engine = create_engine(with_database(url, "postgres"), poolclass=NullPool)
    with engine.connect() as conn:
        started = conn.execute(text("SELECT pg_postmaster_start_time()")).scalar_one()
    return float(started.timestamp())


@dataclass
class Restart:
    """Open-loop load at ``rate`` for ``seconds`` from ``start`` (the loop's clock), with
    a service stopped and started again in it: when each command was called and returned
    (seconds into the stretch) and what it said."""

    service: str  # ``db`` or ``roads``: the ``locator`` command group that stops it
    rate: float
    start: float
    wall_start: float  # ``start`` on the wall clock
    seconds: float
    records: list[Record]
    events: dict[str, float] = field(default_factory=dict)
    output: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """The requests sent, the commands' timings and what the commands said."""
        return (
            f"{len(self.records)} requests at {self.rate:.0f}/s sent; "
            + ", ".join(f"{k} {v:.2f} s" for k, v in self.events.items())
            + f"; {self.service} stop said {self.output.get('stop')!r}, "
            f"{self.service} start said {self.output.get('start')!r}"
        )


async def restart_under_load(
    args: argparse.Namespace,
    pool: Pool,
    mix: Mix,
    rate: float,
    meter: Meter,
    service: str,
    env: dict[str, str],
    down: Callable[[bool], None] = lambda _: None,
) -> Restart:
    """0.5R, long enough to see the recovery whatever ``--seconds`` says, with ``locator
    <service> stop`` at ``--fault-at`` and ``locator <service> start`` ``--down`` seconds
    later; ``down`` hears when the service is (still) stopped."""
    loop = asyncio.get_running_loop()
    r, seconds = 0.5 * rate, max(args.seconds, args.fault_at + args.down + 20)
    batch = mix.batch(math.ceil(r * seconds))
    start = loop.time() + 0.2
    run = Restart(service, r, start, time.time() + (start - loop.time()), seconds, [])

    async def fault() -> None:
        await asyncio.sleep(start + args.fault_at - loop.time())
        run.events["stop_called"] = loop.time() - start
        down(True)
        _, run.output["stop"] = await run_command([LOCATOR, service, "stop"], env)
        run.events["stop_returned"] = loop.time() - start
        await asyncio.sleep(args.down)
        run.events["start_called"] = loop.time() - start
        code, run.output["start"] = await run_command([LOCATOR, service, "start"], env)
        down(code != 0)
        run.events["start_returned"] = loop.time() - start

    meter.lap()
    pool.peak = pool.open_count
    faulting = loop.create_task(fault())
    run.records = await open_loop(pool, batch, r, start)
    await faulting
    await pool.drain(args.timeout + 1)
    return run
