"""The app factory: the settings handed to create_app are the ones its routes enforce and
its OpenAPI document states, whatever the process's own settings say."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from locator.api import create_app
from locator.settings import get_settings
from tests.support.api import in_transaction


@pytest.fixture
def narrow(db_url: str, session: Session) -> Iterator[TestClient]:
    settings = get_settings().model_copy(
        update={"max_k": 7, "max_rating_comment": 50, "max_isochrone_minutes": 12.0}
    )
    with in_transaction(create_app(settings, owner_url=db_url), session) as test_client:
        yield test_client


def _parameter(doc: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    params = doc["paths"][path]["get"]["parameters"]
    schema: dict[str, Any] = next(p for p in params if p["name"] == name)["schema"]
    return schema


def test_the_bounds_in_openapi_are_the_apps_settings(
    narrow: TestClient, client: TestClient
) -> None:
    doc = narrow.get("/openapi.json").json()
    k = _parameter(doc, "/v1/points/nearest", "k")
    assert 7 in (k.get("maximum"), *(a.get("maximum") for a in k.get("anyOf", [])))
    minutes = _parameter(doc, "/v1/isochrone", "minutes")
    assert minutes["maximum"] == 12.0
    comment = doc["components"]["schemas"]["RatingCreate"]["properties"]["comment"]
    assert 50 in [a.get("maxLength") for a in comment["anyOf"]]
    # an app made with the default settings keeps the default bounds
    default = client.get("/openapi.json").json()
    assert _parameter(default, "/v1/isochrone", "minutes")["maximum"] == (
        get_settings().max_isochrone_minutes
    )


def test_the_routes_enforce_the_apps_settings(narrow: TestClient) -> None:
    near = {"lat": 13.75, "lon": 100.5}
    assert narrow.get("/v1/points/nearest", params={**near, "k": 7}).status_code == 200
    refused = narrow.get("/v1/points/nearest", params={**near, "k": 8})
    assert refused.status_code == 422
    assert "k" in refused.text
    long_comment = narrow.post("/v1/points/1/ratings", json={"score": 4, "comment": "x" * 51})
    assert long_comment.status_code == 422
