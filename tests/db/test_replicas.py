"""Read replicas, as an operator runs them: a real hot standby of the test database's
cluster (``locator db replica create``: pg_basebackup over streaming replication, on a
socket and port of its own) behind ``locator serve`` with LOCATOR_READ_DATABASE_URLS.

Which server answered a read is shown by the data, not by the server's word: with the
replica's replay paused, a write on the primary is missing from the replica only, so a
public read that misses it came from the replica, and one that shows it from the primary.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
from sqlalchemy import Engine, text

from locator.agencies import accounts
from locator.db.cluster import SUPERUSER, ReplicaCluster
from locator.db.replicas import lsn
from locator.settings import Settings, get_settings
from tests.support.cli import LOCATOR
from tests.support.ports import free_port
from tests.support.servers import Server, serving

MAX_LAG_S = 5.0
ROUNDS = itertools.count(1)  # distinct client addresses: the rating limit is per client


def _client_address() -> dict[str, str]:
    n = next(ROUNDS)
    return {"X-Forwarded-For": f"10.20.{n // 250}.{n % 250 + 1}"}


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"still not {what} after {timeout_s:g} s"
        time.sleep(0.1)


def _size(folder: Path) -> int:
    """Bytes under ``folder``, while the replica replays (other sessions' databases come
    and go on a shared cluster: a file or folder may vanish as it is counted)."""
    total = 0
    for root, _, files in os.walk(folder):  # os.walk skips a folder gone meanwhile
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


@dataclass(frozen=True)
class Standby:
    cluster: ReplicaCluster
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LOCATOR, "db", "replica", *args, "--port", str(self.cluster.port)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def sql(self, statement: str) -> Any:
        """One statement on the replica, as its owner (the replica is read-only)."""
        conn = psycopg2.connect(
            dbname="postgres",
            user=SUPERUSER,
            host=str(self.cluster.socket_dir),
            port=self.cluster.port,
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchone()[0]
        finally:
            conn.close()


@pytest.fixture(scope="module")
def standby(db_url: str) -> Iterator[Standby]:
    """A replica of the session database's cluster, made with the CLI; removed (its slot
    on the primary dropped) at the end."""
    state = get_settings().state_dir / f"test-replica-{uuid.uuid4().hex[:8]}"
    cluster = ReplicaCluster(Settings(state_dir=state), free_port(), db_url)
    env = {**os.environ, "LOCATOR_DATABASE_URL": db_url, "LOCATOR_STATE_DIR": str(state)}
    made = Standby(cluster, env)
    started = time.monotonic()
    try:
        out = made.cli("create")
        assert out.returncode == 0, out.stderr + out.stdout
        size = _size(cluster.data_dir)
        print(
            f"\nreplica made by pg_basebackup in {time.monotonic() - started:.1f} s: "
            f"{size / 1e6:,.0f} MB (the whole cluster, every database)"
        )
        yield made
    finally:
        out = made.cli("remove")
        assert out.returncode == 0, out.stderr + out.stdout
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def test_point(engine: Engine) -> Iterator[int]:
    """A DOPA office of the test's own (committed: the server and the replica see it;
    deleted at the end with its ratings), far from the places other tests read."""
    with engine.begin() as conn:
        point_id = conn.execute(
            text(
                "INSERT INTO service_point (agency_id, kind, name_th, name_en, geog, "
                "  address_en, source, opening_hours) "
                "SELECT id, 'district_office', 'สำนักงานทดสอบสำเนา', 'Replica test office', "
                "  ST_SetSRID(ST_MakePoint(97.95, 9.95), 4326)::geography, "
                "  'Ranong', 'imported', '{}'::jsonb "
                "FROM agency WHERE code = 'dopa' RETURNING id"
            )
        ).scalar_one()
    yield int(point_id)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_point WHERE id = :id"), {"id": point_id})


@pytest.fixture(scope="module")
def agency_key(engine: Engine) -> Iterator[dict[str, str]]:
    with engine.begin() as conn:
        issued = accounts.create(conn, f"replica{uuid.uuid4().hex[:8]}", "dopa", "editor")
    yield {"Authorization": f"Bearer {issued.key}"}
    with engine.begin() as conn:
        accounts.revoke(conn, issued.account.username)


@pytest.fixture(scope="module")
def served(db_url: str, standby: Standby) -> Iterator[Server]:
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": db_url,
        "LOCATOR_READ_DATABASE_URLS": standby.cluster.reader_url(),
        "LOCATOR_REPLICA_MAX_LAG_S": str(MAX_LAG_S),
        "LOCATOR_REPLICA_CHECK_S": "0.2",
        "LOCATOR_REPLICA_RETRY_S": "0.5",
        "LOCATOR_TRUSTED_PROXIES": "127.0.0.1",
    }
    with serving(env) as server:
        yield server


def _reads(server: Server) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{server.url}/readyz", timeout=10).json()["reads"]
    return state


def _replica_in_use(server: Server) -> bool:
    return bool(_reads(server)["replicas"][0]["in_use"])


def _caught_up(standby: Standby, engine: Engine) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    with engine.connect() as conn:
        target = lsn(conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())
    _wait_for(
        "caught up",
        lambda: lsn(standby.sql("SELECT pg_last_wal_replay_lsn()::text")) >= target,
    )


@contextmanager
def replay_paused(standby: Standby) -> Iterator[None]:
    """The replica keeps answering but applies nothing more from the primary."""
    standby.sql("SELECT pg_wal_replay_pause()")
    try:
        _wait_for(
            "paused", lambda: standby.sql("SELECT pg_get_wal_replay_pause_state()") == "paused"
        )
        yield
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")


def test_public_reads_come_from_the_replica_and_authors_read_their_own_writes(
    served: Server,
    standby: Standby,
    engine: Engine,
    test_point: int,
    agency_key: dict[str, str],
) -> None:
    _caught_up(standby, engine)
    _wait_for("using the replica", lambda: _replica_in_use(served))
    url = f"/v1/points/{test_point}"
    with (
        httpx.Client(base_url=served.url, timeout=30) as public,
        httpx.Client(base_url=served.url, timeout=30) as rater,
        httpx.Client(base_url=served.url, timeout=30, headers=agency_key) as agency,
        replay_paused(standby),
    ):
        before = public.get(url).json()
        rated = rater.post(f"{url}/ratings", json={"score": 5}, headers=_client_address())
        assert rated.status_code == 201, rated.text
        # the rater sees the rating at once (their next reads are the primary's) ...
        assert rater.get(url).json()["rating"]["count"] == before["rating"]["count"] + 1
        # ... while the public's reads come from the replica, which has not replayed it
        assert public.get(url).json()["rating"]["count"] == before["rating"]["count"]

        # an agency's edit: its author (a request with a key) reads it back at once
        tag = agency.get(url).headers["etag"]
        edited = agency.patch(
            url, json={"name_en": "Renamed on the primary"}, headers={"If-Match": tag}
        )
        assert edited.status_code == 200, edited.text
        assert agency.get(url).json()["name_en"] == "Renamed on the primary"
        assert public.get(url).json()["name_en"] == "Replica test office"

        # the paused replica falls behind past the bound: it is left out, and the public
        # reads fall back to the primary, which has both writes
        _wait_for(
            "served by the primary",
            lambda: public.get(url).json()["name_en"] == "Renamed on the primary",
        )
        left_out = _reads(served)["replicas"][0]
        assert not left_out["in_use"] and left_out["left_out"].startswith("lags"), left_out
        assert public.get(url).json()["rating"]["count"] == before["rating"]["count"] + 1
    # replaying again, the replica catches up and is used again
    _wait_for("using the replica again", lambda: _replica_in_use(served))

    def answered_by_the_replica() -> bool:
        count = _reads(served)["replicas"][0]["reads"]
        assert httpx.get(f"{served.url}{url}").json()["name_en"] == "Renamed on the primary"
        return bool(_reads(served)["replicas"][0]["reads"] > count)

    _wait_for("a read answered by the replica", answered_by_the_replica)


@dataclass
class Traffic:
    """Public reads from two threads and a rating every tenth of a second from a third,
    each answer's status kept."""

    base: str
    point_id: int
    reads: int = 0
    rated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _read(self, n: int) -> None:
        paths = [
            "/v1/points/nearest?lat=13.7466&lon=100.5347&k=5",
            f"/v1/points/{self.point_id}",
            "/v1/points/search?q=Chiang",
        ]
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for i in itertools.count(n):
                if self._stop.is_set():
                    return
                path = paths[i % len(paths)]
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as exc:
                    self.errors.append(f"GET {path}: {exc!r}")
                    continue
                self.reads += 1
                if status != 200:
                    self.errors.append(f"GET {path}: {status}")

    def _write(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for i in itertools.count():
                if self._stop.wait(0.1):
                    return
                comment = f"under traffic {uuid.uuid4().hex[:8]} #{i}"
                try:
                    response = client.post(
                        f"/v1/points/{self.point_id}/ratings",
                        json={"score": 4, "comment": comment},
                        headers=_client_address(),
                    )
                except httpx.HTTPError as exc:
                    self.errors.append(f"POST rating: {exc!r}")
                    continue
                if response.status_code == 201:
                    self.rated.append(comment)
                else:
                    self.errors.append(f"POST rating: {response.status_code} {response.text}")

    def __enter__(self) -> Traffic:
        self._threads = [threading.Thread(target=self._read, args=(n,)) for n in (0, 1)]
        self._threads.append(threading.Thread(target=self._write))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_the_replica_stopped_and_started_under_traffic_costs_no_error_and_no_write(
    served: Server, standby: Standby, engine: Engine, test_point: int
) -> None:
    _caught_up(standby, engine)
    _wait_for("using the replica", lambda: _replica_in_use(served))
    start = _reads(served)
    with Traffic(served.url, test_point) as traffic:

        def reads_beyond(count: int) -> Callable[[], bool]:
            floor = traffic.reads + count
            return lambda: traffic.reads >= floor

        def note_lag() -> bool:
            replica = _reads(served)["replicas"][0]
            if replica["lag_s"] is not None:
                traffic.lags.append(replica["lag_s"])
            return True

        _wait_for("reading", reads_beyond(30))
        note_lag()
        stop = standby.cli("stop")
        assert stop.returncode == 0, stop.stderr
        _wait_for("reading without the replica", reads_beyond(30))
        assert not _replica_in_use(served)
        at_restart = _reads(served)
        begin = standby.cli("start")
        assert begin.returncode == 0, begin.stderr
        _wait_for("using the replica again", lambda: note_lag() and _replica_in_use(served))
        _wait_for("reading from the replica again", reads_beyond(30))
        note_lag()
        behind = standby.cluster.behind_bytes()
    end = _reads(served)
    assert traffic.errors == [], traffic.errors[:10]
    # every rating answered 201 is in the database, once
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT comment FROM rating WHERE point_id = :id AND comment LIKE 'under traffic %'"
            ),
            {"id": test_point},
        ).scalars()
        assert sorted(stored) == sorted(traffic.rated)
    served_by_replica = end["replicas"][0]["reads"] - start["replicas"][0]["reads"]
    after_restart = end["replicas"][0]["reads"] - at_restart["replicas"][0]["reads"]
    assert after_restart > 0, "the replica answered nothing after its restart"
    print(
        f"\n{traffic.reads} public reads and {len(traffic.rated)} ratings, no error: "
        f"{served_by_replica} reads answered by the replica ({after_restart} after its "
        f"restart), {end['primary_reads'] - start['primary_reads']} by the primary; "
        f"lag seen by the checker: max {max(traffic.lags, default=0):.3f} s; "
        f"replica behind the primary at the end: {behind} bytes"
    )
