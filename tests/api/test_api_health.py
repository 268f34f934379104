"""Liveness, readiness and the shape of errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from locator.api import create_app
from tests.support.api import BASE_URL


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_migrated(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_503_when_not_migrated(empty_db_url: str) -> None:
    with TestClient(create_app(owner_url=empty_db_url), base_url=BASE_URL) as c:
        response = c.get("/readyz")
    assert response.status_code == 503
    assert "locator migrate" in response.json()["error"]["message"]
    assert response.headers["retry-after"]


def test_readyz_503_when_database_unreachable() -> None:
    url = "postgresql+psycopg2://nobody@/nodb?host=/nonexistent&port=1"
    with TestClient(create_app(owner_url=url), base_url=BASE_URL) as c:
        response = c.get("/readyz")
    assert response.status_code == 503
    assert "unreachable" in response.json()["error"]["message"]


def test_unknown_route_is_a_structured_404(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "locator"
