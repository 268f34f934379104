"""`locator db dump` and `locator db restore` as a user runs them: the registry round-trips
exactly, the API's roles work on the copy, and a bad file or a full database is refused
with one line, leaving the database as it was.

The session database is only ever read (dumped); restores go into databases of their own.
The checks below are written independently of ``locator.ops.backup``: if its fingerprint were
wrong in the same way on both sides, these would still see the difference.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from locator.db.engine import with_user
from locator.db.migrate import head_revision
from locator.db.roles import API_ROLE, READER_ROLE
from locator.ops.backup import find_tools, libpq_target
from locator.registry.models import Base
from locator.settings import Settings
from tests.support.cli import LOCATOR
from tests.support.database import create_database, drop_database

CHECKSUMS = {
    "points": "SELECT md5(string_agg(id || ':' || ST_AsEWKB(geog::geometry)::text, ',' "
    "ORDER BY id)) FROM service_point",
    "offerings": "SELECT md5(string_agg(format('%s|%s|%L|%L|%L', point_id, service_code, "
    "copies_required, no_copy_since, notes), ',' ORDER BY point_id, service_code COLLATE \"C\")) "
    "FROM offering",
    "ratings": "SELECT md5(string_agg(format('%s|%s|%L|%s|%L|%s|%s', id, point_id, service_code, "
    "score, comment, client_hash, created_at AT TIME ZONE 'UTC'), ',' ORDER BY id)) FROM rating",
}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LOCATOR, *args], env=env, capture_output=True, text=True, timeout=300)


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in out.stdout + out.stderr
    return lines[0]


def contents(url: str) -> dict[str, Any]:
    """Rows of every table, the three checksums, the revision and the rating sequence."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out: dict[str, Any] = {
                name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                for name in sorted(Base.metadata.tables)
            }
            out.update({k: conn.execute(text(sql)).scalar_one() for k, sql in CHECKSUMS.items()})
            out["revision"] = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            out["next_rating_id_at_least"] = conn.execute(
                text("SELECT last_value + 1 FROM rating_id_seq")
            ).scalar_one()
    finally:
        engine.dispose()
    return out


def env_for(url: str) -> dict[str, str]:
    return dict(os.environ, LOCATOR_DATABASE_URL=url)


def rate(url: str, *, score: int, comment: str) -> int:
    """A rating written as the API writes it: as locator_api, id from the sequence."""
    engine = create_engine(with_user(url, API_ROLE))
    try:
        with engine.begin() as conn:
            return conn.execute(
                text(
                    "INSERT INTO rating (point_id, service_code, score, comment, client_hash) "
                    "SELECT min(id), NULL, :score, :comment, 'test-client' FROM service_point "
                    "RETURNING id"
                ),
                {"score": score, "comment": comment},
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def source(db_url: str) -> dict[str, Any]:
    """What the session database holds; it never changes during these tests."""
    return contents(db_url)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backup")


@pytest.fixture(scope="module")
def dumped(db_url: str, work: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The session database, dumped once (read only: other tests share it)."""
    path = work / "registry.dump"
    return path, run(["db", "dump", str(path)], env_for(db_url))


@pytest.fixture(scope="module")
def target(server_url: str) -> Iterator[str]:
    """An empty database of its own to restore into."""
    url = create_database(server_url, "locator_restore")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def restored(
    dumped: tuple[Path, subprocess.CompletedProcess[str]], target: str
) -> subprocess.CompletedProcess[str]:
    path, out = dumped
    assert out.returncode == 0, out.stderr
    return run(["db", "restore", str(path)], env_for(target))


def test_dump_writes_the_archive_and_its_manifest(
    dumped: tuple[Path, subprocess.CompletedProcess[str]], source: dict[str, Any]
) -> None:
    path, out = dumped
    assert out.returncode == 0, out.stderr
    assert f"to {path}" in out.stdout and "manifest:" in out.stdout
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    data = path.read_bytes()
    assert manifest["dump"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["revision"] == source["revision"] == head_revision()
    assert {name: t["rows"] for name, t in manifest["tables"].items()} == {
        name: source[name] for name in sorted(Base.metadata.tables)
    }
    assert manifest["tables"]["service_point"]["rows"] > 50_000
    assert "service_point.service_point_propagate_geog" in manifest["objects"]["trigger"]


def test_restore_into_an_empty_database_is_exact_and_verified(
    restored: subprocess.CompletedProcess[str], target: str, source: dict[str, Any]
) -> None:
    assert restored.returncode == 0, restored.stderr
    assert (
        f"verified: rows and checksums of all {len(Base.metadata.tables)} tables match the dump"
        in restored.stdout
    )
    assert "offering" in restored.stdout and "matches" in restored.stdout
    assert contents(target) == source


def test_the_api_roles_can_use_the_restored_database(
    restored: subprocess.CompletedProcess[str], target: str, source: dict[str, Any]
) -> None:
    assert restored.returncode == 0, restored.stderr
    reader = create_engine(with_user(target, READER_ROLE))
    writer = create_engine(with_user(target, API_ROLE))
    try:
        with reader.connect() as conn:
            points = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
            assert points == source["service_point"]
            nearest = conn.execute(
                text(
                    "SELECT id FROM service_point ORDER BY geog <-> "
                    "ST_SetSRID(ST_MakePoint(100.5, 13.75), 4326)::geography LIMIT 1"
                )
            ).scalar_one()
            assert nearest
        with reader.connect() as conn, pytest.raises(DBAPIError) as denied:
            conn.execute(text("SELECT client_hash FROM rating"))  # still least privilege
        assert getattr(denied.value.orig, "pgcode", "") == "42501"
        with writer.connect() as conn:
            trans = conn.begin()
            conn.execute(
                text(
                    "INSERT INTO rating (point_id, score, client_hash) "
                    "SELECT min(id), 4, 'probe' FROM service_point"
                )
            )
            trans.rollback()
    finally:
        reader.dispose()
        writer.dispose()


def test_a_second_restore_needs_replace(
    dumped: tuple[Path, subprocess.CompletedProcess[str]],
    restored: subprocess.CompletedProcess[str],
    target: str,
) -> None:
    assert restored.returncode == 0, restored.stderr
    before = contents(target)
    line = one_line_error(run(["db", "restore", str(dumped[0])], env_for(target)))
    assert "already holds" in line and "--replace" in line
    assert contents(target) == before


def test_a_damaged_dump_is_refused_and_changes_nothing(
    dumped: tuple[Path, subprocess.CompletedProcess[str]],
    restored: subprocess.CompletedProcess[str],
    target: str,
    work: Path,
) -> None:
    assert restored.returncode == 0, restored.stderr
    before = contents(target)
    good = dumped[0].read_bytes()
    manifest = json.loads(dumped[0].with_name(dumped[0].name + ".manifest.json").read_text())
    damaged = work / "damaged.dump"
    damaged.write_bytes(good[: len(good) * 9 // 10])
    damaged_manifest = work / "damaged.dump.manifest.json"

    # as it would be found: its manifest describes the whole file
    damaged_manifest.write_text(json.dumps(manifest))
    line = one_line_error(run(["db", "restore", "--replace", str(damaged)], env_for(target)))
    assert "damaged" in line
    assert contents(target) == before

    # a manifest that matches the damaged bytes: pg_restore itself fails, in one transaction
    # that had already dropped and re-created tables when the data ran out
    data = damaged.read_bytes()
    manifest["dump"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    damaged_manifest.write_text(json.dumps(manifest))
    line = one_line_error(run(["db", "restore", "--replace", str(damaged)], env_for(target)))
    assert "pg_restore failed" in line and "as it was" in line
    assert contents(target) == before


def test_missing_files_and_newer_schemas_are_refused(
    dumped: tuple[Path, subprocess.CompletedProcess[str]],
    target: str,
    work: Path,
    cli_env: dict[str, str],
) -> None:
    env = env_for(target)
    line = one_line_error(run(["db", "restore", str(work / "nothing.dump")], env))
    assert "no such file" in line
    lonely = work / "lonely.dump"
    lonely.write_bytes(dumped[0].read_bytes())
    assert "manifest" in one_line_error(run(["db", "restore", str(lonely)], env))
    manifest = json.loads(dumped[0].with_name(dumped[0].name + ".manifest.json").read_text())
    manifest["revision"] = "9999_from_the_future"
    (work / "lonely.dump.manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(run(["db", "restore", "--replace", str(lonely)], env))
    assert "9999_from_the_future" in line and "does not know" in line
    # a dump goes nowhere it cannot be written (read-only on the session database)
    line = one_line_error(run(["db", "dump", str(work / "no-such-folder" / "x.dump")], cli_env))
    assert "does not exist" in line


def test_replace_restores_ratings_and_their_sequence(
    restored: subprocess.CompletedProcess[str], target: str, work: Path
) -> None:
    """Runs last on the target: it writes ratings there."""
    assert restored.returncode == 0, restored.stderr
    # the session database may hold ratings already: tests that run `locator serve` over
    # it write real ones
    had = contents(target)["rating"]
    for score in (5, 3, 1):
        rate(target, score=score, comment=f"ทดสอบ score {score}, 'quoted'")
    path = work / "with-ratings.dump"
    out = run(["db", "dump", str(path)], env_for(target))
    assert out.returncode == 0, out.stderr
    assert f"{had + 3:,} ratings" in out.stdout
    before = contents(target)

    # what a replace must undo: a lost point (and its offerings) and lost ratings
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rating"))
        conn.execute(
            text("DELETE FROM service_point WHERE id = (SELECT max(id) FROM service_point)")
        )
    engine.dispose()
    assert contents(target)["service_point"] == before["service_point"] - 1

    out = run(["db", "restore", "--replace", str(path)], env_for(target))
    assert out.returncode == 0, out.stderr
    assert f"replacing {before['service_point'] - 1:,} service points" in out.stdout
    assert "verified" in out.stdout
    assert contents(target) == before
    # the sequence came back too: the API's next rating does not collide with the restored ones
    assert rate(target, score=4, comment="after") >= before["next_rating_id_at_least"]


def test_an_external_url_becomes_libpq_parameters_without_the_password() -> None:
    """What pg_dump and pg_restore are handed for a managed server (no such server here)."""
    url = "postgresql+psycopg2://app:s3cr%27t%40x@db.example:5433/registry?sslmode=require"
    settings = Settings(database_url=url)
    conninfo, env = libpq_target(url, settings, "locator-dump")
    assert conninfo.split(" ")[:5] == [
        "host='db.example'",
        "port='5433'",
        "user='app'",
        "dbname='registry'",
        "sslmode='require'",
    ]
    assert "s3cr" not in conninfo and env["PGPASSWORD"] == "s3cr't@x"
    tools = find_tools(settings)
    assert Path(tools.path("pg_restore")).exists() and tools.major >= 15
