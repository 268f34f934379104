"""The outside probe's slow and oversized clients (issue 20, items 1, 4 and 13), replayed on
raw sockets against a real ``locator serve``: uvicorn's protocol layer, where a request's
head and body are read, is part of what is tested.

The server's timeouts are a second here (LOCATOR_HEADER_TIMEOUT_S and friends), so that
each test takes a few seconds; the socket waits below are generous bounds on when the
server must have acted, not measurements.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from locator.agencies import accounts
from tests.support import attacks
from tests.support.servers import HOST, Server, serving

TIMEOUT_S = 1  # the server's header and body timeouts in this module
WAIT_S = 8  # how long a socket waits for the server to have acted
NEAREST = {"lat": 13.7563, "lon": 100.5018, "k": 1}


@pytest.fixture(scope="module")
def server(db_url: str) -> Iterator[Server]:
    env = dict(
        os.environ,
        LOCATOR_DATABASE_URL=db_url,
        LOCATOR_HEADER_TIMEOUT_S=str(TIMEOUT_S),
        LOCATOR_BODY_TIMEOUT_S=str(TIMEOUT_S),
        LOCATOR_IMPORT_BODY_TIMEOUT_S=str(2 * TIMEOUT_S),
    )
    with serving(env) as served:
        yield served


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _error(answer: attacks.Answer | None, status: int, code: str) -> dict[str, Any]:
    """The answer is ``status`` in the one error shape with ``code``."""
    assert answer is not None, "the server closed the connection without an answer"
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def _point(api: httpx.Client) -> int:
    return int(api.get("/v1/points/nearest", params=NEAREST).json()["results"][0]["id"])


# --- item 1: slow bodies --------------------------------------------------------------------
def test_slow_bodies_hold_no_admission_slot(server: Server, api: httpx.Client) -> None:
    # the probe: headers of a rating and one byte of its body, on more connections than
    # there are admission slots (16) and places in line (16)
    path = f"/v1/points/{_point(api)}/ratings"
    with attacks.held([attacks.slow_body(HOST, server.port, path) for _ in range(40)]) as slow:
        # while they hang, the database routes answer
        for _ in range(5):
            response = api.get("/v1/points/nearest", params=NEAREST)
            assert response.status_code == 200, response.text
        # and each slow body is dropped: a 408 in the one error shape, then closed
        for sock in slow[:3]:
            closed, answer = attacks.closed_by_server(sock, WAIT_S)
            error = _error(answer, 408, "body_timeout")
            assert closed and "did not arrive" in error["message"]
    # a body sent at once is still read and reaches the route (no such point: nothing
    # is written into the session's database)
    rating = api.post("/v1/points/999999999/ratings", json={"score": 4})
    assert rating.status_code == 404, rating.text


def test_a_slow_import_upload_is_dropped_in_time(
    server: Server, engine: Engine, api: httpx.Client
) -> None:
    with engine.begin() as conn:
        key = accounts.create(conn, f"slow{uuid.uuid4().hex[:8]}", "dopa", "editor").key
    path = "/v1/agencies/dopa/points:import?dry_run=true"
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    with attacks.held([attacks.slow_body(HOST, server.port, path, 10_000, b"id", auth)]) as s:
        closed, answer = attacks.closed_by_server(s[0], WAIT_S)
        _error(answer, 408, "body_timeout")
        assert closed
    # the import slot is free again: a whole file is imported (dry run) at once
    ok = api.post(
        path,
        content=b"name_th,kind,lat,lon\n",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
    )
    assert ok.status_code in (200, 422), ok.text
    assert ok.json().get("error", {}).get("code") != "busy"


# --- item 4: headers ------------------------------------------------------------------------
def test_a_head_that_does_not_arrive_in_time_is_closed(server: Server) -> None:
    closed, _ = attacks.slow_headers(HOST, server.port, every_s=0.3, for_s=WAIT_S)
    assert closed
    with attacks.held([attacks.connect(HOST, server.port)]) as (silent,):
        closed, answer = attacks.closed_by_server(silent, WAIT_S)
        _error(answer, 408, "header_timeout")
        assert closed
    with attacks.held([attacks.unfinished_headers(HOST, server.port, pad_bytes=1000)]) as held:
        closed, answer = attacks.closed_by_server(held[0], WAIT_S)
        _error(answer, 408, "header_timeout")
        assert closed


def test_huge_headers_are_refused_as_they_arrive(server: Server, api: httpx.Client) -> None:
    answer = attacks.huge_header(HOST, server.port, 2 << 20)
    error = _error(answer, 431, "headers_too_large")
    assert error["details"] == {"max_bytes": 32_768}
    # many unfinished ones: each is refused and closed, nothing is held
    socks = [attacks.unfinished_headers(HOST, server.port, pad_bytes=1 << 20) for _ in range(10)]
    with attacks.held(socks):
        for sock in socks:
            closed, answer = attacks.closed_by_server(sock, WAIT_S)
            _error(answer, 431, "headers_too_large")
            assert closed
    # ordinary headers, and a few ordinary requests on one connection, pass
    for _ in range(3):
        assert api.get("/healthz", headers={"X-Note": "a" * 4000}).status_code == 200


# --- item 13: URLs a server cannot read -------------------------------------------------------
def test_a_raw_non_ascii_url_is_told_to_percent_encode(server: Server) -> None:
    answer = attacks.raw_url(HOST, server.port, "/v1/points/search?q=กรุงเทพ".encode())
    error = _error(answer, 400, "invalid_url")
    assert "percent-encode" in error["message"]


def test_an_overlong_url_is_a_414_saying_the_limit(server: Server) -> None:
    answer = attacks.raw_url(HOST, server.port, b"/v1/points/search?q=" + b"a" * 40_000)
    error = _error(answer, 414, "url_too_long")
    assert error["details"] == {"max_bytes": 16_384} and "16,384" in error["message"]


def test_a_malformed_request_is_answered_in_the_error_shape(server: Server) -> None:
    answer = attacks.raw_request(HOST, server.port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    _error(answer, 400, "invalid_request")
