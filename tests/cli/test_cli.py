"""The command line as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import LOCATOR


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LOCATOR, *args], env=env, capture_output=True, text=True, timeout=300)


def test_status_reports_areas_and_population(cli_env: dict[str, str]) -> None:
    out = run(["status", "--json"], cli_env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["revision"] == data["head"]
    assert data["areas"]["province"]["count"] == 77
    assert data["areas"]["district"]["count"] == 928
    assert 65_000_000 <= data["areas"]["tambon"]["population"] <= 66_000_000
    assert data["tables"]["admin_area"] == 77 + 928 + data["areas"]["tambon"]["count"]
    human = run(["status"], cli_env)
    assert "population total: 65," in human.stdout
    assert "province" in human.stdout


def test_migrate_is_idempotent(cli_env: dict[str, str]) -> None:
    out = run(["migrate"], cli_env)
    assert out.returncode == 0, out.stderr
    assert "schema at revision" in out.stdout


def test_db_commands_refuse_when_an_external_url_is_set(cli_env: dict[str, str]) -> None:
    out = run(["db", "start"], cli_env)
    assert out.returncode == 2
    assert "LOCATOR_DATABASE_URL" in out.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # nothing listens there: refused at once
        ("postgresql+psycopg2://locator@127.0.0.1:1/locator", "Connection refused"),
        # a role the server does not know
        ("unknown role", "nobody"),
        # a database that is not there
        ("unknown database", "does not exist"),
        ("not a url at all", "LOCATOR_DATABASE_URL must look like"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line(
    cli_env: dict[str, str], server_url: str, url: str, says: str
) -> None:
    from sqlalchemy.engine import make_url

    from locator.db.engine import with_database

    if url == "unknown role":
        url = make_url(server_url).set(username="nobody").render_as_string(hide_password=False)
    elif url == "unknown database":
        url = with_database(server_url, "no_such_database")
    for command in (["status"], ["migrate"], ["load", "reference"]):
        out = run(command, {**cli_env, "LOCATOR_DATABASE_URL": url})
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith("error: ") and says in lines[0], lines[0]
        assert "Traceback" not in out.stderr + out.stdout


def test_a_deployment_without_its_client_hash_key_is_told_so(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "LOCATOR_CLIENT_HASH_KEY"}
    out = run(["serve", "--port", "1"], env)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: LOCATOR_CLIENT_HASH_KEY is not set")


def test_the_embedded_set_up_makes_its_own_client_hash_key(tmp_path: Path) -> None:
    from locator.secrets import client_hash_key
    from locator.settings import Settings

    settings = Settings(state_dir=tmp_path, database_url=None, client_hash_key=None)
    key = client_hash_key(settings)
    assert len(key) == 64 and client_hash_key(settings) == key
    assert (tmp_path / "client_hash_key").stat().st_mode & 0o777 == 0o600


def test_a_taken_port_is_one_line_and_nothing_claims_to_serve(cli_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = run(["serve", "--host", "127.0.0.1", "--port", str(port)], cli_env)
    assert out.returncode == 2, out
    assert out.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is taken: choose another with --port or LOCATOR_PORT"
    )
    assert "serving" not in out.stdout
