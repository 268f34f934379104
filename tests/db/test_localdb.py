"""The embedded cluster: started on demand, idempotent, recovers from a crash."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from locator.db.cluster import LocalCluster
from locator.settings import Settings, get_settings
from tests.support.cli import LOCATOR


@pytest.fixture
def scratch_cluster() -> Iterator[LocalCluster]:
    """A second private cluster on its own port, in a folder the postgres user can reach."""
    base = get_settings().state_dir / f"test-cluster-{uuid.uuid4().hex[:8]}"
    settings = Settings(state_dir=base, db_port=55000 + os.getpid() % 1000)
    cluster = LocalCluster(settings)
    yield cluster
    try:
        cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _connect(cluster: LocalCluster) -> int:
    conn = psycopg2.connect(
        dbname=cluster.db_name, user="locator", host=str(cluster.socket_dir), port=cluster.port
    )
    with conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        value = cur.fetchone()[0]
    conn.close()
    return value


def test_start_is_idempotent_and_stop_stops(scratch_cluster: LocalCluster) -> None:
    assert scratch_cluster.start() is True
    assert scratch_cluster.start() is False  # second start: a no-op
    status = scratch_cluster.status()
    assert status.running and status.pid
    assert _connect(scratch_cluster) == 1
    mode = stat.S_IMODE(scratch_cluster.socket_dir.stat().st_mode)
    assert mode == 0o700, "the socket folder must stay private"
    assert scratch_cluster.stop() is True
    assert scratch_cluster.status().running is False
    assert scratch_cluster.stop() is False


def test_recovers_from_a_crash_with_a_stale_pid_file(scratch_cluster: LocalCluster) -> None:
    scratch_cluster.start()
    pid = scratch_cluster.status().pid
    assert pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # let the orphaned backends notice and exit
    assert (scratch_cluster.data_dir / "postmaster.pid").exists()
    assert scratch_cluster.status().running is False
    assert scratch_cluster.start() is True
    assert _connect(scratch_cluster) == 1


def test_missing_postgis_names_the_install_command(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (tmp_path / "share" / "extension").mkdir(parents=True)
    for tool in ("initdb", "pg_ctl"):
        (fake / tool).write_text("#!/bin/sh\nexit 1\n")
        (fake / tool).chmod(0o755)
    (fake / "pg_config").write_text(f"#!/bin/sh\necho {tmp_path / 'share'}\n")
    (fake / "pg_config").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "LOCATOR_DATABASE_URL"}
    env.update(LOCATOR_PG_BIN_DIR=str(fake), LOCATOR_STATE_DIR=str(tmp_path / "state"))
    out = subprocess.run(
        [LOCATOR, "db", "start"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "postgis" in out.stderr and "make deps" in out.stderr
    assert "Traceback" not in out.stderr
