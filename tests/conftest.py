"""Tests run against a real PostGIS: a fresh database per session, rolled back per test.

The server is the embedded cluster (started on demand) or whatever LOCATOR_DATABASE_URL
names; each session creates its own database there from the migrations, loads the
reference geodata once, and drops the database at the end.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session

from locator.api import create_app
from locator.db import migrate
from locator.db.engine import database_url
from locator.ingest.reference import load_reference
from locator.ingest.registry import load_registry
from locator.settings import Settings, get_settings
from tests.support.api import in_transaction, with_settings
from tests.support.cli import LOCATOR
from tests.support.database import REGISTRY_SEED, create_database, drop_database
from tests.support.places import MONACO, MONACO_OFFICE
from tests.support.ports import free_port_pair
from tests.support.servers import serving

pytest_plugins = ["tests.support.browser"]

# the servers the tests start run on LOCATOR_DATABASE_URL, which needs a key of its own
os.environ.setdefault("LOCATOR_CLIENT_HASH_KEY", "test-" + uuid.uuid4().hex)


@pytest.fixture(scope="session")
def server_url() -> str:
    """The PostgreSQL server the tests use, started if it is the embedded one."""
    return database_url(get_settings())


@pytest.fixture(scope="session")
def db_url(server_url: str) -> Iterator[str]:
    url = create_database(server_url)
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        settings = get_settings()
        load_reference(engine, settings.data_dir)
        load_registry(engine, settings.data_dir, settings.catalogue_dir, seed=REGISTRY_SEED)
        engine.dispose()
        yield url
    finally:
        engine.dispose()
        if not os.environ.get("LOCATOR_KEEP_TEST_DB"):
            drop_database(url)


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A database with nothing in it, for migration and readiness tests."""
    url = create_database(server_url, "locator_scratch")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One outer transaction per test, rolled back at the end whatever the test did."""
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as sess:
        yield sess


@pytest.fixture
def client(db_url: str, session: Session) -> Iterator[TestClient]:
    """The API over the test's transaction: its writes vanish when the test ends."""
    with in_transaction(create_app(owner_url=db_url), session) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """tests/output (git-ignored): screenshots and reports for a human to look at."""
    path = Path(__file__).parent / "output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def cli_env(db_url: str) -> dict[str, str]:
    """Environment for running the `locator` command against the session database."""
    env = dict(os.environ)
    env["LOCATOR_DATABASE_URL"] = db_url
    return env


# --- a real server, for clients that need one (GDAL, a browser) ---------------------
@pytest.fixture(scope="session")
def live_server(db_url: str) -> Iterator[str]:
    """``locator serve`` over the test database."""
    with serving(dict(os.environ, LOCATOR_DATABASE_URL=db_url)) as served:
        yield served.url


@pytest.fixture(scope="module")
def server(live_server: str) -> str:
    """The server a module's browser and HTTP tests talk to (a module may override it:
    test_web_route serves Monaco's roads)."""
    return live_server


@pytest.fixture(scope="module")
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


# --- real roads: Monaco's, imported and routed by OSRM -----------------------------
@pytest.fixture(scope="module")
def monaco_roads(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Iterator[Settings]:
    """Monaco's roads imported and both engines running, in a state folder of their own
    (the graph into the session's database)."""
    state = tmp_path_factory.mktemp("roads-state")
    port = free_port_pair()
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": db_url,
        "LOCATOR_STATE_DIR": str(state),
        "LOCATOR_OSRM_PORT": str(port),
    }
    for args in (["roads", "import", str(MONACO)], ["roads", "start"]):
        out = subprocess.run([LOCATOR, *args], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    yield get_settings().model_copy(update={"state_dir": state, "osrm_port": port})
    subprocess.run([LOCATOR, "roads", "stop"], env=env, capture_output=True)


@pytest.fixture
def on_monaco(client: TestClient, monaco_roads: Settings) -> TestClient:
    return with_settings(client, monaco_roads)


@pytest.fixture
def no_roads(client: TestClient, tmp_path: Path) -> TestClient:
    """The API with no road network imported (a state folder of its own)."""
    return with_settings(client, get_settings().model_copy(update={"state_dir": tmp_path}))


@pytest.fixture(scope="module")
def monaco_point(engine: Engine) -> Iterator[int]:
    """A service point in Monaco (the registry is Thai), for routes on its roads to a
    point id. Committed, so that a server or command in a subprocess sees it; deleted
    again when the module ends."""
    lat, lon = MONACO_OFFICE
    with engine.begin() as conn:
        point_id = conn.execute(
            text(
                "INSERT INTO service_point (agency_id, kind, name_th, name_en, geog, "
                "  address_en, source, opening_hours) "
                "SELECT id, 'district_office', 'สำนักงานทดสอบโมนาโก', 'Monaco test office', "
                "  ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, "
                "  'Place du Palais, Monaco', 'imported', '{}'::jsonb "
                "FROM agency ORDER BY id LIMIT 1 RETURNING id"
            ),
            {"lat": lat, "lon": lon},
        ).scalar_one()
    yield int(point_id)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_point WHERE id = :id"), {"id": point_id})
