"""The codes the OpenAPI document admits are the codes there can be (issue 20, item 13):
a generator that follows the document (a client, a fuzzer) never sends ``service=a``, and
every real code of the catalogue, the kinds and the agencies passes the same pattern."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

NEAR = {"lat": 13.75, "lon": 100.5}
CODED = [
    ("/v1/points/nearest", "service", NEAR),
    ("/v1/points/nearest", "agency", NEAR),
    ("/v1/points/nearest", "kind", NEAR),
    ("/v1/points/search", "service", {"q": "Bang"}),
    ("/v1/services", "category", {}),
]


def _pattern(client: TestClient, path: str, name: str) -> str:
    document = client.get("/openapi.json").json()
    (parameter,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    schema = parameter["schema"]
    options = schema.get("anyOf", [schema])
    return next(o["pattern"] for o in options if "pattern" in o)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("path", "name", "others"), CODED)
def test_a_code_is_two_characters_or_more_of_words_joined_by_underscores(
    client: TestClient, connection: Connection, path: str, name: str, others: dict[str, object]
) -> None:
    pattern = re.compile(_pattern(client, path, name))
    for wrong in ["a", "0", "_a", "a_", "A", "id-card"]:
        assert not pattern.search(wrong), (name, wrong)
    real = connection.execute(
        text(
            "SELECT code FROM service UNION SELECT category FROM service "
            "UNION SELECT code FROM agency UNION SELECT DISTINCT kind FROM service_point"
        )
    ).scalars()
    assert all(pattern.search(code) for code in real)
    response = client.get(path, params={name: "a", **others})
    assert response.status_code == 422 and response.json()["error"]["message"].startswith(name)
