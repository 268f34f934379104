"""Shared set-up for the benchmarks: their databases on the same server, the environment
of the servers they start, and the figures they compute.

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
