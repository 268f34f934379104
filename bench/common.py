"""Shared set-up for the benchmarks: their databases on the same server, the environment
of the servers they start, and the figures they compute (medians, wrk's report, the CPU
a server and PostgreSQL used).

Servers, ports and the ``locator`` command come from tests/support (servers.py,
ports.py, cli.py), the one home they share with the tests.
"""

from __future__ import annotations

import os
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from locator.db import migrate
from locator.db.engine import database_url, with_database
from locator.ingest.reference import load_reference
from locator.settings import get_settings
from tests.support.database import create_database, drop_database

BENCH_KEY = uuid.uuid4().hex
"""The ratings' client-hash key of the servers a benchmark starts on its own database."""


def bench_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``locator`` server or command a benchmark starts on ``url``."""
    return {
        **os.environ,
        "LOCATOR_DATABASE_URL": url,
        "LOCATOR_CLIENT_HASH_KEY": BENCH_KEY,
        **extra,
    }


@contextmanager
def scratch_database(prefix: str = "locator_bench") -> Iterator[Engine]:
    """A fresh, migrated database with the reference data, dropped afterwards."""
    url = create_database(database_url(), prefix)
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        load_reference(engine, get_settings().data_dir)
        yield engine
    finally:
        engine.dispose()
        drop_database(url)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def parse_wrk(out: str) -> dict[str, float]:
    """wrk's ``--latency`` report: requests/s, p50 and p99 in ms, non-2xx/3xx count."""

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def cpu_ticks(pid: int) -> int:
    """User and system CPU ticks a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def processes() -> list[tuple[int, int, str]]:
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
    process named postgres on this machine: run the bench on a quiet box).

    Counted per process, as the growth between two samples: a process that exits in
    between (the last pgbench run's backends) takes its CPU time with it, and must not
    make the total shrink.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.hz = os.sysconf("SC_CLK_TCK")

    def sample(self) -> tuple[dict[int, int], dict[int, int]]:
        procs = processes()
        tree, grew = {self.server_pid}, True
        while grew:
            more = {pid for pid, ppid, _ in procs if ppid in tree} - tree
            tree |= more
            grew = bool(more)
        api = {pid: cpu_ticks(pid) for pid in tree}
        pg = {pid: cpu_ticks(pid) for pid, _, name in procs if name == "postgres"}
        return api, pg

    def used(
        self, before: tuple[dict[int, int], dict[int, int]],
        after: tuple[dict[int, int], dict[int, int]],
    ) -> tuple[float, float]:  # fmt: skip
        """(server, PostgreSQL) CPU seconds between two samples."""
        return tuple(  # type: ignore[return-value]
            sum(ticks - b.get(pid, 0) for pid, ticks in a.items()) / self.hz
            for b, a in zip(before, after, strict=True)
        )


def bench_database(name: str) -> str:
    """A migrated database of the bench's own, created if missing (kept for the next run)."""
    server = database_url()
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
    engine.dispose()
    return url
