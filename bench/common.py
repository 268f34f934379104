"""Shared set-up for the benchmarks: a scratch database on the same server."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, text

from locator import migrate
from locator.db import database_url, with_database
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
