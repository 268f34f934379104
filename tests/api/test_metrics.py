"""GET /metrics as Prometheus meets it: requests counted by route template and status, an
overloaded server's refusals counted (and still reported), only allowed addresses
served, and the truth whichever of several workers answers the scrape."""

from __future__ import annotations

import asyncio
import csv as csv_module
import io
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from locator.agencies import accounts
from locator.api import create_app
from locator.api.deps import get_reader, get_writer
from locator.db.engine import Executor
from locator.settings import Settings, get_settings
from tests.support.api import BASE_URL, reading
from tests.support.servers import serving

LOOPBACK = ("127.0.0.1", 40000)
BANGKOK = {"lat": 13.7563, "lon": 100.5018}
T = TypeVar("T")


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus' text format (0 when it is not there)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def series(text: str, name: str) -> list[dict[str, str]]:
    return [
        s.labels
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


@pytest.fixture
def make_app(db_url: str, session: Session) -> Iterator[Any]:
    """An app with settings of the test's choosing, over the test's transaction."""

    def _make(**settings: Any) -> Any:
        app = create_app(Settings(**settings), owner_url=db_url)

        def in_test() -> nullcontext[Session]:
            return nullcontext(session)

        app.dependency_overrides[get_reader] = lambda: reading(session)
        app.dependency_overrides[get_writer] = lambda: in_test
        return app

    yield _make


@pytest.fixture
def local(make_app: Any) -> Iterator[TestClient]:
    """The API as this machine's Prometheus reaches it (from loopback)."""
    with TestClient(make_app(), base_url=BASE_URL, client=LOOPBACK) as client:
        yield client


def test_a_request_is_counted_by_its_route_template_and_status(local: TestClient) -> None:
    point_id = local.get("/v1/points/nearest", params={**BANGKOK, "k": 1}).json()["results"][0][
        "id"
    ]
    route = {"method": "GET", "route": "/v1/points/{point_id}"}
    before = local.get("/metrics").text
    assert local.get(f"/v1/points/{point_id}").status_code == 200
    assert local.get("/v1/points/999999999").status_code == 404
    after = local.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    name = "locator_http_requests_total"
    for status in ("200", "404"):
        counted = sample(after.text, name, **route, status=status)
        assert counted - sample(before, name, **route, status=status) == 1, status
    # one series per route, never one per raw path (a client cannot grow the set)
    assert not any(str(point_id) in s["route"] for s in series(after.text, name))
    seconds = "locator_http_request_duration_seconds_count"
    assert sample(after.text, seconds, **route) - sample(before, seconds, **route) == 2
    # an unknown path is one series too
    local.get("/no/such/path/12345")
    assert not any("12345" in s["route"] for s in series(local.get("/metrics").text, name))


def test_the_database_pools_are_reported(local: TestClient) -> None:
    assert local.get("/readyz").status_code == 200  # a read on the app's own pool
    text = local.get("/metrics").text
    threads = get_settings().api_threads
    for pool in ("read", "write"):
        assert sample(text, "locator_db_pool_size", pool=pool) == threads
        assert sample(text, "locator_db_pool_checked_out", pool=pool) == 0
    assert sample(text, "locator_db_pool_wait_seconds_count", pool="read") >= 1


def test_metrics_are_refused_to_an_address_not_allowed(make_app: Any) -> None:
    with TestClient(make_app(), base_url=BASE_URL, client=("203.0.113.7", 5000)) as outside:
        response = outside.get("/metrics")
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "forbidden", body
    assert "LOCATOR_METRICS_ALLOWED" in body["error"]["message"]
    assert "locator_" not in response.text


def test_behind_a_proxy_the_forwarded_address_decides(make_app: Any) -> None:
    """A proxy on this machine must not make every client on the internet "local"."""
    app = make_app(trusted_proxies="127.0.0.1")
    with TestClient(app, base_url=BASE_URL, client=LOOPBACK) as proxy:
        forwarded = {"X-Forwarded-For": "198.51.100.20"}
        assert proxy.get("/metrics", headers=forwarded).status_code == 403
        assert proxy.get("/metrics").status_code == 200  # the proxy's own scrape
    app = make_app(trusted_proxies="127.0.0.1", metrics_allowed="198.51.100.0/24")
    with TestClient(app, base_url=BASE_URL, client=LOOPBACK) as proxy:
        assert proxy.get("/metrics", headers=forwarded).status_code == 200


def test_import_and_coverage_runs_are_counted_by_outcome(
    local: TestClient, connection: Connection
) -> None:
    key = accounts.create(connection, f"m{uuid.uuid4().hex[:10]}", "dopa_50", "editor").key
    auth = {"Authorization": f"Bearer {key}"}
    before = local.get("/metrics").text
    exported = local.get("/v1/agencies/dopa_50/points", params={"format": "csv"}, headers=auth)
    imports = "/v1/agencies/dopa_50/points:import"
    csv = {**auth, "Content-Type": "text/csv"}
    dry = local.post(imports, content=exported.content, params={"dry_run": "true"}, headers=csv)
    assert dry.status_code == 200, dry.text
    rows = list(csv_module.DictReader(io.StringIO(exported.text)))
    rows[0]["kind"] = "no_such_kind"  # one bad row: the report names it, nothing is written
    out = io.StringIO()
    writer = csv_module.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    bad = local.post(imports, content=out.getvalue().encode(), headers=csv)
    assert bad.status_code == 422 and bad.json()["error"]["details"], bad.text
    coverage = {"service": "passport_issue", "thresholds": "10,50", "level": "province"}
    assert local.get("/v1/coverage", params=coverage).status_code == 200
    after = local.get("/metrics").text
    for name, outcome in (
        ("locator_import_runs_total", "dry_run"),
        ("locator_import_runs_total", "rejected"),
        ("locator_coverage_runs_total", "ok"),
    ):
        assert sample(after, name, outcome=outcome) - sample(before, name, outcome=outcome) == 1
    seconds = "locator_import_run_duration_seconds_count"
    assert sample(after, seconds) - sample(before, seconds) == 2


async def _refusal_while_the_slot_is_held(
    app: Any, inside: threading.Event, release: threading.Event
) -> tuple[int, int, str]:
    """One request holds the only slot (its read waits until told); the next is refused,
    and /metrics is still answered meanwhile. (A slow body cannot hold a slot: bodies are
    read before admission.)"""
    transport = httpx.ASGITransport(app=app, client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        held = asyncio.create_task(client.get("/v1/points/nearest", params={**BANGKOK, "k": 1}))
        while not inside.is_set():
            await asyncio.sleep(0.01)
        refused = await client.get("/v1/services")
        scraped = await client.get("/metrics")
        release.set()
        await held
    return refused.status_code, scraped.status_code, scraped.text


def test_a_refused_admission_is_counted_and_metrics_still_answer(
    make_app: Any, session: Session
) -> None:
    app = make_app(max_concurrent_requests=1, max_waiting_requests=0)
    inside, release = threading.Event(), threading.Event()
    read = reading(session)

    def held_read(work: Callable[[Executor], T]) -> T:
        inside.set()
        release.wait(30)
        return read(work)

    with TestClient(app, base_url=BASE_URL, client=LOOPBACK) as client:  # its start-up
        before = sample(client.get("/metrics").text, "locator_admission_refusals_total")
        app.dependency_overrides[get_reader] = lambda: held_read
        refused, scraped, text = asyncio.run(_refusal_while_the_slot_is_held(app, inside, release))
    assert refused == 503
    assert scraped == 200  # outside the admission limit, like /healthz
    assert sample(text, "locator_admission_refusals_total") - before == 1
    assert sample(text, "locator_http_requests_total", route="unmatched", status="503") >= 1


def test_two_workers_report_the_same_totals(db_url: str) -> None:
    """`locator serve --workers 2`: every scrape, whichever worker answers it, counts
    every request either worker served, and both workers' pools."""
    env = dict(os.environ, LOCATOR_DATABASE_URL=db_url)
    sent = 40
    with serving(env, workers=2) as server:
        for _ in range(sent):  # a new connection each: the kernel spreads them
            with httpx.Client(base_url=server.url, timeout=30) as c:
                assert c.get("/v1/services").status_code == 200
        scrapes = []
        for _ in range(8):
            with httpx.Client(base_url=server.url, timeout=30) as c:
                scrapes.append(c.get("/metrics").text)
    route = {"method": "GET", "route": "/v1/services", "status": "200"}
    counts = [sample(text, "locator_http_requests_total", **route) for text in scrapes]
    assert counts == [sent] * len(scrapes), counts
    pools = [sample(text, "locator_db_pool_size", pool="read") for text in scrapes]
    assert pools == [2 * get_settings().api_threads] * len(scrapes), pools


def test_routing_engine_calls_are_counted_by_mode_and_outcome(on_monaco: TestClient) -> None:
    """Monaco's roads, routed by a real OSRM."""
    with TestClient(on_monaco.app, base_url=BASE_URL, client=LOOPBACK) as local:
        before = local.get("/metrics").text
        route = local.get("/v1/route", params={"from": "43.7396,7.4246", "to": "43.7315,7.4206"})
        assert route.status_code == 200, route.text
        after = local.get("/metrics").text
    calls = "locator_routing_engine_calls_total"
    made = sample(after, calls, mode="drive", outcome="ok") - sample(
        before, calls, mode="drive", outcome="ok"
    )
    assert made >= 1
    seconds = "locator_routing_engine_call_duration_seconds_count"
    assert sample(after, seconds, mode="drive") - sample(before, seconds, mode="drive") == made
