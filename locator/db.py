"""Engine and session factory.

``database_url()`` is the single place that decides which database a command talks to:
``LOCATOR_DATABASE_URL`` when set, otherwise the embedded cluster, started on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from locator.settings import Settings, get_settings


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


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for read-only requests: autocommit, so no BEGIN/COMMIT round trips."""
    return sessionmaker(
        bind=engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    with make_session_factory(engine)() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
