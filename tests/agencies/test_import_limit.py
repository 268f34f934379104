"""The per-account limit on bulk import attempts (issue 20): one account posting hostile
files back to back kept a core busy and pushed the citizens' p99 up six-fold. Past the
limit an attempt is a 429 in the one error shape, naming when to try again, answered
before the file is read: replayed on raw sockets against a real ``locator serve``, with a
body that never arrives, so only an answer given before the body read can come back.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from locator.agencies import accounts
from tests.support import attacks
from tests.support.servers import HOST, Server, serving

LIMIT = 2
WAIT_S = 8  # how long a socket waits for the answer (the body timeout is far longer)
PATH = "/v1/agencies/dopa_50/points:import?dry_run=true"
EMPTY_CSV = b"name_th,kind,lat,lon\n"


@pytest.fixture(scope="module")
def server(db_url: str) -> Iterator[Server]:
    env = dict(
        os.environ,
        LOCATOR_DATABASE_URL=db_url,
        LOCATOR_IMPORTS_PER_ACCOUNT_PER_HOUR=str(LIMIT),
        LOCATOR_IMPORT_BODY_TIMEOUT_S="60",
    )
    with serving(env) as served:
        yield served


def _key(engine: Engine, agency: str = "dopa_50") -> str:
    with engine.begin() as conn:
        return accounts.create(conn, f"imp{uuid.uuid4().hex[:8]}", agency, "editor").key


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}


def test_past_the_limit_an_import_is_a_429_before_its_file_is_read(
    server: Server, engine: Engine
) -> None:
    key = _key(engine)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        for _ in range(LIMIT):  # dry runs and refused files count: an empty file is a 422
            r = api.post(PATH, content=EMPTY_CSV, headers=_headers(key))
            assert r.status_code == 422, r.text
    # the next one promises 10 MB and sends two bytes: its answer comes all the same
    slow = attacks.slow_body(HOST, server.port, PATH, 10_000_000, b"id", _headers(key))
    with attacks.held([slow]):
        answer = attacks.read_answer(slow, WAIT_S)
    assert answer is not None, "the server closed the connection without an answer"
    assert answer.status == 429, (answer.status, answer.body[:300])
    error = answer.json()["error"]
    assert error["code"] == "rate_limited"
    retry = int(answer.headers["retry-after"])
    assert 3000 < retry <= 3600, retry  # the first attempt leaves the window in an hour
    assert "at most 2 bulk imports an hour" in error["message"]
    assert re.search(r"try again in (5\d|60) minutes$", error["message"]), error["message"]
    with engine.connect() as conn:
        counted = conn.execute(
            text(
                "SELECT count(*) FROM import_attempt a JOIN api_key k USING (account_id) "
                "WHERE k.prefix = :prefix"
            ),
            {"prefix": key.split("_")[1]},
        ).scalar_one()
    assert counted == LIMIT  # the refused attempt is not counted against the account


def test_the_limit_is_per_account(server: Server, engine: Engine) -> None:
    first, second = _key(engine), _key(engine)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        answers = [
            api.post(PATH, content=EMPTY_CSV, headers=_headers(first)).status_code
            for _ in range(LIMIT + 1)
        ]
        assert answers == [422] * LIMIT + [429]
        again = api.post(PATH, content=EMPTY_CSV, headers=_headers(first))
        assert again.status_code == 429 and int(again.headers["retry-after"]) > 3000
        other = api.post(PATH, content=EMPTY_CSV, headers=_headers(second))
        assert other.status_code == 422, other.text
        # another agency's door is refused before any attempt is counted or file read
        stranger = _key(engine, "dla")
        wrong = api.post(PATH, content=EMPTY_CSV, headers=_headers(stranger))
        assert wrong.status_code == 404, wrong.text
