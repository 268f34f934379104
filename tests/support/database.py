"""Throwaway databases on the PostgreSQL server the tests (and benchmarks) use."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from locator.db.engine import with_database

REGISTRY_SEED = 2021
"""The seed of the session database's generated registry (the tests expect its points)."""


def _admin_engine(server_url: str) -> Engine:
    return create_engine(with_database(server_url, "postgres"), isolation_level="AUTOCOMMIT")


def create_database(server_url: str, prefix: str = "locator_test") -> str:
    """A new empty database ``<prefix>_<random>`` on ``server_url``'s server; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    """Drop ``url``'s database, cutting off whoever is still connected."""
    name = make_url(url).database
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
