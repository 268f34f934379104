"""Every answer names its request (X-Request-ID), and so does every log line written
while it was handled: the app's own warnings and uvicorn's access line, as one JSON
object a line when LOCATOR_LOG_FORMAT=json."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.cli import LOCATOR
from tests.support.ports import free_port
from tests.support.servers import HOST, running

FRESH = re.compile(r"[0-9a-f]{32}")


def test_every_answer_carries_a_fresh_request_id(client: TestClient) -> None:
    ids = [
        client.get("/v1/services").headers["X-Request-ID"],
        client.get("/v1/no-such-route").headers["X-Request-ID"],  # a 404
        client.get("/healthz", headers={"Host": "evil.example"}).headers["X-Request-ID"],  # 400
    ]
    assert all(FRESH.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_a_sane_incoming_request_id_is_kept(client: TestClient) -> None:
    for sane in ("abc-123.DEF_4", "0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 128):
        response = client.get("/v1/services", headers={"X-Request-ID": sane})
        assert response.headers["X-Request-ID"] == sane


@pytest.mark.parametrize(
    "insane",
    ["x" * 129, "two words", "a\tb", "<script>", "id;drop", "ไทย".encode(), ""],
)
def test_an_insane_incoming_request_id_is_replaced(client: TestClient, insane: str | bytes) -> None:
    response = client.get("/v1/services", headers={"X-Request-ID": insane})
    assert response.status_code == 200
    assert FRESH.fullmatch(response.headers["X-Request-ID"]), response.headers["X-Request-ID"]


def test_json_log_lines_carry_the_request_id(db_url: str, tmp_path: Path) -> None:
    """`locator serve` with LOCATOR_LOG_FORMAT=json, its access log on, and a tile URL
    the page cannot use (so rendering the page writes the app's own warning)."""
    log = tmp_path / "server.log"
    port = free_port()
    env = dict(
        os.environ,
        LOCATOR_DATABASE_URL=db_url,
        LOCATOR_LOG_FORMAT="json",
        LOCATOR_TILE_URL="ftp://tiles.invalid/{z}/{x}/{y}.png",
    )
    command = [LOCATOR, "serve", "--host", HOST, "--port", str(port)]
    with (
        running(command, port, env, log=log) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        page = c.get("/app", headers={"X-Request-ID": "page-1"})
        assert page.status_code == 200
        fresh = c.get("/v1/services").headers["X-Request-ID"]
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= set(record), record
    for_page = [r for r in records if r["request_id"] == "page-1"]
    warning = [r for r in for_page if r["level"] == "WARNING"]
    assert warning and warning[0]["logger"].startswith("locator."), for_page
    assert "tile_url" in warning[0]["message"]
    access = [r for r in for_page if r["logger"] == "uvicorn.access"]
    assert len(access) == 1, for_page
    assert access[0]["method"] == "GET" and access[0]["path"] == "/app"
    assert access[0]["status"] == 200
    assert isinstance(access[0]["duration_ms"], float) and access[0]["duration_ms"] >= 0
    assert access[0]["client"].startswith("127.0.0.1:")
    services = [r for r in records if r["request_id"] == fresh]
    assert [r["path"] for r in services] == ["/v1/services"]
    # lines written outside any request (start-up) have none
    assert any(r["request_id"] is None for r in records)
