"""The command line as a user runs it."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import LOCATOR


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
