"""Engines, sessions and the prepared-statement runner.

``database_url()`` is the single place that decides which database a command talks to:
``LOCATOR_DATABASE_URL`` when set, otherwise the embedded cluster, started on demand.
That URL is the owner's: migrations and loads run through it. The API never does: it
writes as ``locator_api`` and reads as ``locator_reader`` (``locator.db.roles``, ``api_urls``),
with every wait bounded (statement, lock, idle transaction, connect and pool timeouts);
its public reads may go to read replicas (``locator.db.replicas``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, cast

import psycopg2
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from locator.db.roles import API_ROLE, READER_ROLE
from locator.failfast import Gate
from locator.settings import Settings, get_settings

Executor = Session | Connection
"""What the domain's read functions query through: a Session (inside a unit of work, and
in tests, inside the test's transaction) or a bare Connection (the API's read pool)."""


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    from locator.db.cluster import LocalCluster

    cluster = LocalCluster(settings)
    if start:
        cluster.start()
    return cluster.url()


def with_database(url: str, name: str) -> str:
    """The same server, another database (for tests and maintenance)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def with_user(url: str | URL, user: str) -> str:
    """The same server and database as another role (no password: the embedded cluster
    authenticates local roles by the operating-system user)."""
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


def api_urls(owner_url: str, settings: Settings) -> tuple[str, str]:
    """The API's (write, read) URLs: configured ones, else the owner's with the roles."""
    write = settings.api_database_url or with_user(owner_url, API_ROLE)
    read = settings.read_database_url or with_user(owner_url, READER_ROLE)
    return write, read


def _options(**gucs: object) -> str:
    """libpq ``options``: server settings fixed for the life of each connection."""
    return " ".join(f"-c {name}={value}" for name, value in gucs.items())


def make_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    """The owner's pooled engine, for the CLI, loads and tests: no statement timeout
    (a registry load runs for half a minute), but a bounded connect."""
    settings = settings or get_settings()
    return create_engine(
        url or database_url(settings),
        pool_recycle=3600,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": settings.connect_timeout_s},
    )


def _fail_fast(engine: Engine, cooldown_s: float) -> Engine:
    """``engine`` behind a ``Gate``: after a failed connection attempt, the next ones are
    refused at once for ``cooldown_s`` instead of each waiting out ``connect_timeout``
    (a database behind a network fault does not answer at all)."""
    gate = Gate(cooldown_s)

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if not gate.admit():
            raise psycopg2.OperationalError(
                "the database did not answer a moment ago (not retried yet)"
            )
        try:
            connection = dialect.connect(*cargs, **cparams)
        except Exception:
            gate.settle(ok=False)
            raise
        gate.settle(ok=True)
        return connection

    return engine


def make_write_engine(url: str, settings: Settings) -> Engine:
    """The API's engine for writes (ratings, the agencies' edits and imports), as
    ``locator_api``.

    Pre-pinged: a write lost to a dead pooled connection after a database restart is a
    citizen's rating or a clerk's edit answered 503 although the database is back. The
    ping is one loopback round trip on a route far rarer than the reads, whose engine
    goes without (a read is simply retried).
    """
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_size=settings.api_threads,
        max_overflow=0,  # one connection per worker thread is all a request can use
        pool_timeout=settings.pool_timeout_s,
        connect_args={
            "connect_timeout": settings.connect_timeout_s,
            "application_name": "locator-api",
            "options": _options(
                statement_timeout=settings.write_statement_timeout_ms,
                lock_timeout=settings.lock_timeout_ms,
                idle_in_transaction_session_timeout=settings.idle_in_transaction_timeout_ms,
            ),
        },
    )
    return _watched(_fail_fast(engine, settings.connect_retry_s), "write")


def make_read_engine(
    url: str,
    settings: Settings,
    *,
    pool_size: int | None = None,
    application_name: str = "locator-api-read",
) -> Engine:
    """The API's engine for public reads, as ``locator_reader``: read-only connections,
    autocommit from the moment they open, so a read costs one round trip and nothing else.
    The same for the primary and each read replica (``locator.db.replicas``, which also
    keeps a one-connection engine per server for its checks: ``pool_size``).

    Autocommit set per checkout instead (``execution_options``) made psycopg2 send a
    ``SET`` to the server when the connection was lent and again when it came back, and
    returning a connection rolled back a transaction that was never open; together
    that was a fifth of a nearest request's time. ``plan_cache_mode`` is fixed here for
    ``run_prepared`` (see there) rather than SET later, where a rollback could undo it.
    """
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,  # autocommit: there is never a transaction to reset
        pool_recycle=3600,
        pool_size=pool_size or settings.api_threads,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_s,
        connect_args={
            "connect_timeout": settings.connect_timeout_s,
            "application_name": application_name,
            "options": _options(
                default_transaction_read_only="on",
                statement_timeout=settings.read_statement_timeout_ms,
                lock_timeout=settings.lock_timeout_ms,
                idle_in_transaction_session_timeout=settings.idle_in_transaction_timeout_ms,
                plan_cache_mode="force_generic_plan",
            ),
        },
    )
    return _watched(_fail_fast(engine, settings.connect_retry_s), "read")


def _watched(engine: Engine, pool: str) -> Engine:
    """The API's pool, counted in ``locator.metrics`` (imported here, by the API alone:
    the CLI's commands neither count pools nor pay for loading prometheus_client)."""
    from locator.metrics import watch_pool

    return watch_pool(engine, pool)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


# --- prepared statements ------------------------------------------------------------------
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@lru_cache(maxsize=512)
def _to_positional(statement: str) -> tuple[str, str, tuple[str, ...]]:
    """``:name`` parameters to ``$n``, with a stable name for PREPARE."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    positional = _PARAM.sub(number, statement)
    digest = hashlib.blake2b(positional.encode(), digest_size=8).hexdigest()
    return f"locator_{digest}", positional, tuple(order)


def run_prepared(db: Executor, statement: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Run a hot read query as a server-side prepared statement.

    psycopg2 has no prepared statements of its own; planning the nearest query costs as
    much as running it, so each pooled connection PREPAREs it once and then only
    EXECUTEs it. On the API's read pool it runs its generic plan (``plan_cache_mode``,
    set by ``make_read_engine``): for these KNN queries the same index scans, in half
    the time of re-planning. Prepared statements belong to the database session, not
    to the transaction, so a rollback does not undo them.

    It uses the driver's cursor directly: SQLAlchemy's result machinery was 8 % of the
    API's CPU per nearest request (bench/HISTORY.md). Errors are raised as SQLAlchemy's
    ``DBAPIError`` all the same, and a connection found dead (a database restart) is
    invalidated with the rest of its pool, as SQLAlchemy itself does on a disconnect, so
    the next requests reconnect.
    """
    name, positional, order = _to_positional(statement)
    conn = db.connection() if isinstance(db, Session) else db
    raw = conn.connection
    prepared: set[str] = raw.info.setdefault("locator_prepared", set())
    try:
        with cast(psycopg2.extensions.cursor, raw.cursor()) as cur:
            if name not in prepared:
                # no parameters: psycopg2 sends the text as it is (a `%` needs no escaping)
                cur.execute(f"PREPARE {name} AS {positional}")
                prepared.add(name)
            placeholders = ", ".join(["%s"] * len(order))
            cur.execute(
                f"EXECUTE {name} ({placeholders})" if order else f"EXECUTE {name}",
                [params[p] for p in order] if order else None,
            )
            columns = [c.name for c in cur.description or ()]
            return [dict(zip(columns, values, strict=True)) for values in cur.fetchall()]
    except psycopg2.Error as exc:
        dead = bool(getattr(raw.dbapi_connection, "closed", 0))
        if dead:
            conn.invalidate(exc)
            conn.engine.dispose(close=False)  # every other pooled connection is as dead
        raise DBAPIError.instance(
            statement, None, exc, psycopg2.Error, connection_invalidated=dead
        ) from exc
