"""Shared set-up for the benchmarks: a scratch database on the same server."""

from __future__ import annotations

import contextlib
import random
import re
import socket
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

BENCH_KEY = uuid.uuid4().hex
"""The ratings' client-hash key of the servers a benchmark starts on its own database."""


@contextmanager
def scratch_database(prefix: str = "locator_bench") -> Iterator[Engine]:
    """A fresh, migrated database with the reference data, dropped afterwards."""
    server = database_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(with_database(server, name))
    try:
        migrate.upgrade(engine)
        load_reference(engine, get_settings().data_dir)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A free port whose next one is free too (the drive and walk routing engines).

    Drawn below the kernel's ephemeral range: a port in it that is free when checked can
    be taken a moment later by any outgoing connection (a CI run once lost the walk
    engine's port that way, between this check and osrm-routed binding it)."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1025, low // 2), low - 2)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two free ports side by side")


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
