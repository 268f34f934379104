"""The process's Prometheus metrics: every metric object, in one framework-free module.

The domain counts what it does here (routing-engine calls, import and coverage runs,
database pool waits) and the HTTP door counts requests and admission refusals; only
``locator.api`` serves them (``GET /metrics``), so a notebook or a CLI run that counts
costs a few increments and nothing else.

``locator serve --workers N`` runs N processes, and a scrape reaches only one of them.
prometheus_client's multiprocess mode makes every process write its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (set by ``locator serve`` before the workers start), and
``exposition`` adds them up, so whichever worker answers tells the truth for all. Which
mode a process is in is decided once, when prometheus_client is first imported (its
value store), and ``MULTIPROCESS`` reads it from there rather than from the environment,
which may have been set after that import.

Labels are bounded by construction: a route's template (never its raw path), a status
code, a method from a fixed list, a pool's name, a travel mode, an outcome word.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from sqlalchemy import Engine, event

from locator.errors import LocatorError

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = values.ValueClass is not values.MutexValue
"""Whether this process writes its values to files beside its sibling workers'."""

# request latencies: a nearest is a few ms, a coverage run seconds
_LATENCY = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RUN = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)

HTTP_REQUESTS = Counter(
    "locator_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "locator_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY,
)
ADMISSION_REFUSALS = Counter(
    "locator_admission_refusals",
    "Requests refused at once with a 503 because the process was busy (admission full).",
)
DB_POOL_SIZE = Gauge(
    "locator_db_pool_size",
    "Connections a database pool may hold, summed over the live processes.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_CHECKED_OUT = Gauge(
    "locator_db_pool_checked_out",
    "Connections lent to requests right now, summed over the live processes.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "locator_db_pool_wait_seconds",
    "Time a request waited for a database connection (a full pool, or a new connection).",
    ["pool"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ROUTING_CALLS = Counter(
    "locator_routing_engine_calls",
    "Calls to the routing engine (OSRM), by travel mode and outcome "
    "(ok, timeout, error, refused: the fail-fast gate was closed).",
    ["mode", "outcome"],
)
ROUTING_SECONDS = Histogram(
    "locator_routing_engine_call_duration_seconds",
    "Time of a routing-engine call that was made, by travel mode.",
    ["mode"],
    buckets=_LATENCY,
)
IMPORT_RUNS = Counter(
    "locator_import_runs",
    "Bulk imports, by outcome (written, dry_run, rejected: rows had problems, "
    "refused: the file or request was unusable, error).",
    ["outcome"],
)
IMPORT_SECONDS = Histogram(
    "locator_import_run_duration_seconds", "Time of a bulk import.", buckets=_RUN
)
COVERAGE_RUNS = Counter(
    "locator_coverage_runs",
    "Coverage runs, by outcome (ok, refused: unusable input, error).",
    ["outcome"],
)
COVERAGE_SECONDS = Histogram(
    "locator_coverage_run_duration_seconds", "Time of a coverage run.", buckets=_RUN
)


def exposition() -> tuple[bytes, str]:
    """The metrics as Prometheus' text format (all workers' in multiprocess mode), and
    its content type."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Drop a worker's live gauges (its pool) from the sum once it has stopped."""
    if MULTIPROCESS and os.environ.get(MULTIPROCESS_DIR_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def watch_pool(engine: Engine, pool: str) -> Engine:
    """Count ``engine``'s pool: its size, the connections lent out, and how long each
    request waited for one.

    SQLAlchemy has no event before a checkout, so the wait is timed around
    ``Engine.raw_connection`` (what every ``connect()`` and Session calls): it holds the
    wait for a free connection and, when the pool opens a new one, the connection
    itself (which is what a request waits for then). The pool events follow the pool
    through ``dispose()``, which hands them to its successor.
    """
    size = engine.pool.size() if hasattr(engine.pool, "size") else 0
    DB_POOL_SIZE.labels(pool).set(size)
    checked_out = DB_POOL_CHECKED_OUT.labels(pool)
    waited = DB_POOL_WAIT.labels(pool)

    def _checkout(*_: Any) -> None:
        checked_out.inc()

    def _checkin(*_: Any) -> None:
        checked_out.dec()

    event.listen(engine, "checkout", _checkout)
    event.listen(engine, "checkin", _checkin)
    raw_connection = engine.raw_connection

    @functools.wraps(raw_connection)
    def _timed() -> Any:
        started = time.perf_counter()
        try:
            return raw_connection()
        finally:
            waited.observe(time.perf_counter() - started)

    engine.raw_connection = _timed  # type: ignore[method-assign]
    return engine


P = ParamSpec("P")
R = TypeVar("R")


def counted_run(
    runs: Counter, seconds: Histogram, outcome: Callable[[Any], str] = lambda _: "ok"
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Count each call of the decorated function in ``runs`` by outcome (``outcome`` of
    its result; ``refused`` for a domain error, such as unusable input; ``error`` for
    anything else) and time it in ``seconds``."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def counted(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            result_outcome = "error"
            try:
                result = func(*args, **kwargs)
                result_outcome = outcome(result)
                return result
            except LocatorError:
                result_outcome = "refused"
                raise
            finally:
                runs.labels(result_outcome).inc()
                seconds.observe(time.perf_counter() - started)

        return counted

    return decorate
