"""Tests run against a real PostGIS: a fresh database per session, rolled back per test.

The server is the embedded cluster (started on demand) or whatever LOCATOR_DATABASE_URL
names; each session creates its own database there from the migrations, loads the
reference geodata once, and drops the database at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session

from bench.common import free_port_pair
from locator.api import create_app
from locator.api.deps import get_reader, get_settings_dep, get_writer
from locator.db import migrate
from locator.db.engine import database_url, with_database
from locator.ingest.reference import load_reference
from locator.ingest.registry import load_registry
from locator.settings import Settings, get_settings

# the servers the tests start run on LOCATOR_DATABASE_URL, which needs a key of its own
os.environ.setdefault("LOCATOR_CLIENT_HASH_KEY", "test-" + uuid.uuid4().hex)

OUTPUT_DIR = Path(__file__).parent / "output"
# the console script installed beside the interpreter running the tests
LOCATOR = str(Path(sys.executable).parent / "locator")
REGISTRY_SEED = 2021


def _admin_engine(server_url: str) -> Engine:
    return create_engine(with_database(server_url, "postgres"), isolation_level="AUTOCOMMIT")


def create_database(server_url: str, prefix: str = "locator_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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


BASE_URL = "http://localhost"  # a host the API answers to (LOCATOR_ALLOWED_HOSTS)


@pytest.fixture
def client(db_url: str, session: Session) -> Iterator[TestClient]:
    """The API over the test's transaction: its writes vanish when the test ends."""
    app = create_app(owner_url=db_url)

    def _in_test_transaction() -> AbstractContextManager[Session]:
        return nullcontext(session)

    app.dependency_overrides[get_reader] = lambda: _in_test_transaction
    app.dependency_overrides[get_writer] = lambda: _in_test_transaction
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture
def cli_env(db_url: str) -> dict[str, str]:
    """Environment for running the `locator` command against the session database."""
    env = dict(os.environ)
    env["LOCATOR_DATABASE_URL"] = db_url
    return env


# --- a real server, for clients that need one (GDAL, a browser) ---------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url}/readyz did not answer 200 within {timeout_s:g} s")


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """``locator serve`` in a subprocess on a free loopback port, with ``env``; yields its
    URL once it is ready, and stops it afterwards."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [LOCATOR, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_ready(url, proc)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                pytest.fail(f"{exc}; server log:\n{log.read().decode(errors='replace')}")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


@pytest.fixture(scope="session")
def live_server(db_url: str) -> Iterator[str]:
    """``locator serve`` over the test database."""
    with serving(dict(os.environ, LOCATOR_DATABASE_URL=db_url)) as url:
        yield url


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
MONACO = get_settings().osm_dir / "monaco.osm.pbf"


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


def with_settings(client: TestClient, settings: Settings) -> TestClient:
    """The API client answering with ``settings`` (another state folder, engine port)."""
    app = client.app
    app.dependency_overrides[get_settings_dep] = lambda: settings  # type: ignore[attr-defined]
    return client


@pytest.fixture
def on_monaco(client: TestClient, monaco_roads: Settings) -> TestClient:
    return with_settings(client, monaco_roads)


@pytest.fixture
def no_roads(client: TestClient, tmp_path: Path) -> TestClient:
    """The API with no road network imported (a state folder of its own)."""
    return with_settings(client, get_settings().model_copy(update={"state_dir": tmp_path}))


MONACO_OFFICE = (43.7315, 7.4206)  # lat, lon: by the Prince's Palace, metres from a road


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
