"""Engine and session factory.

``database_url()`` is the single place that decides which database a command talks to:
``LOCATOR_DATABASE_URL`` when set, otherwise the embedded cluster, started on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from locator.settings import Settings, get_settings

Executor = Session | Connection
"""What the domain's read functions query through: a Session (inside a unit of work, and
in tests, inside the test's transaction) or a bare Connection (the API's read pool)."""


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    from locator.localdb import LocalCluster

    cluster = LocalCluster(settings)
    if start:
        cluster.start()
    return cluster.url()


def with_database(url: str, name: str) -> str:
    """The same server, another database (for tests and maintenance)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs: object) -> Engine:
    """A pooled engine. No pre-ping: it costs a round trip on every request; after a
    database restart SQLAlchemy sees the disconnect on first use, answers that request
    with a 503 and refreshes the whole pool."""
    return create_engine(
        url or database_url(),
        pool_recycle=3600,
        pool_size=10,
        max_overflow=10,
        **kwargs,  # type: ignore[arg-type]
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_read_engine(url: str | URL, pool_size: int = 8) -> Engine:
    """A second pool, for requests that only read: its connections are autocommit
    from the moment they open, so a read costs one round trip and nothing else.

    Autocommit set per checkout instead (``execution_options``) made psycopg2 send a
    ``SET`` to the server when the connection was lent and again when it came back, and
    returning a connection rolled back a transaction that was never open; together
    that was a fifth of a nearest request's time.
    """
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,  # autocommit: there is never a transaction to reset
        pool_recycle=3600,
        pool_size=pool_size,
        max_overflow=pool_size,
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    with make_session_factory(engine)() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
