"""What the load runs on: a scratch registry, a private cluster, imported roads."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from locator.db import migrate
from locator.db.cluster import LocalCluster
from locator.db.engine import database_url, with_database
from locator.ingest.reference import load_reference
from locator.ingest.registry import load_registry
from locator.settings import Settings
from tests.support.cli import LOCATOR
from tests.support.ports import free_port, free_port_pair


@contextlib.contextmanager
def scratch_registry(mode: str, settings: Settings) -> Iterator[tuple[str, str]]:
    """A scratch copy of the registry on the cluster: (owner URL, how it was made).

    ``template`` clones the demo database (a few seconds; PostgreSQL refuses while any
    session is connected to it), then applies any newer migration; ``build`` migrates
    and loads reference and registry (about 35 s); ``auto`` tries the first, then the
    second. Dropped afterwards.
    """
    server = database_url(settings)
    name = f"locator_load_{uuid.uuid4().hex[:8]}"
    # no pool: the fault phase restarts PostgreSQL, and a pooled connection would be dead
    admin = create_engine(
        with_database(server, "postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    how = ""
    try:
        if mode in ("auto", "template"):
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{settings.db_name}"'))
                engine = create_engine(with_database(server, name))
                migrate.upgrade(engine)  # the demo database may lag behind the code
                engine.dispose()
                how = f"cloned from {settings.db_name!r} (CREATE DATABASE ... TEMPLATE)"
            except Exception as exc:  # most often: the demo database is in use
                if mode == "template":
                    raise
                said = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                print(f"cannot clone {settings.db_name!r} ({said}); building instead", flush=True)
        if not how:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            started = time.perf_counter()
            engine = create_engine(with_database(server, name))
            migrate.upgrade(engine)
            load_reference(engine, settings.data_dir)
            load_registry(engine, settings.data_dir, settings.catalogue_dir)
            engine.dispose()
            how = f"built: migrate + reference + registry ({time.perf_counter() - started:.0f} s)"
        yield with_database(server, name), how
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[Settings, dict[str, str]]]:
    """A throwaway embedded cluster of our own (its own folder and socket port): the
    restart in (e) then cuts off nobody else. Yields its settings and the environment
    that points the ``locator`` command at it."""
    state = Path(tempfile.mkdtemp(prefix="locator-load-"))
    state.chmod(0o755)  # as root the server runs as `postgres`, which must reach it
    settings = Settings(state_dir=state, db_port=free_port(), database_url=None)
    cluster = LocalCluster(settings)
    cluster.start()
    try:
        yield settings, {"LOCATOR_STATE_DIR": str(state), "LOCATOR_DB_PORT": str(settings.db_port)}
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def imported_roads(url: str, pbf: Path) -> Iterator[dict[str, str]]:
    """``pbf`` imported (OSRM data in a state folder of its own, the graph into the
    scratch database); yields the environment that points ``locator`` at it. The server
    starts the engines itself; they are stopped afterwards."""
    state = Path(tempfile.mkdtemp(prefix="locator-load-roads-"))
    port = free_port_pair()
    env = {"LOCATOR_STATE_DIR": str(state), "LOCATOR_OSRM_PORT": str(port)}
    full = {**os.environ, "LOCATOR_DATABASE_URL": url, **env}
    try:
        started = time.perf_counter()
        out = subprocess.run(
            [LOCATOR, "roads", "import", str(pbf)], env=full, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(f"locator roads import {pbf} failed: {out.stderr.strip()}")
        print(
            f"roads: {pbf.name} imported in {time.perf_counter() - started:.1f} s: "
            + out.stdout.strip().splitlines()[-1],
            flush=True,
        )
        yield env
    finally:
        subprocess.run([LOCATOR, "roads", "stop"], env=full, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
