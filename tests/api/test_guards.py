"""What an outside probe tried (issue 8), as a client meets it: hosts, proxies, CORS, bodies,
NUL characters, loose types, unknown parameters, and the OpenAPI document's promises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from locator.api import create_app
from locator.api.deps import get_reader, get_writer
from locator.api.guards import EXEMPT_FROM_ADMISSION
from locator.settings import Settings
from tests.support.api import BASE_URL, reading

BANGKOK = {"lat": 13.7563, "lon": 100.5018}


def _point_id(client: TestClient) -> int:
    response = client.get("/v1/points/nearest", params={**BANGKOK, "k": 1})
    return int(response.json()["results"][0]["id"])


@pytest.fixture
def make_client(db_url: str, session: Session) -> Iterator[Any]:
    """A client of an app with settings of the test's choosing, over the test's
    transaction."""
    clients: list[TestClient] = []

    def _make(**settings: Any) -> TestClient:
        app = create_app(Settings(**settings), owner_url=db_url)

        def in_test() -> nullcontext[Session]:
            return nullcontext(session)

        app.dependency_overrides[get_reader] = lambda: reading(session)
        app.dependency_overrides[get_writer] = lambda: in_test
        client = TestClient(app, base_url=BASE_URL)
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.__exit__(None, None, None)


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]  # type: ignore[no-any-return]


# --- Host and links ------------------------------------------------------------------------
def test_an_unknown_host_is_refused(client: TestClient) -> None:
    response = client.get("/collections", headers={"Host": "evil.example"})
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_host"
    assert "evil.example" in error["message"]


def test_links_come_from_the_public_base_url(make_client: Any) -> None:
    client = make_client(public_base_url="https://locator.example.go.th/api")
    # the configured public host is accepted, and it is what every link names
    for host in ("localhost", "locator.example.go.th"):
        body = client.get("/collections", headers={"Host": host}).json()
        hrefs = [link["href"] for c in body["collections"] for link in c["links"]]
        hrefs += [link["href"] for link in body["links"]]
        assert hrefs and all(h.startswith("https://locator.example.go.th/api/") for h in hrefs), (
            hrefs
        )
    items = client.get(
        "/collections/service_points/items", params={"limit": 2}, headers={"Host": "localhost"}
    ).json()
    assert all(
        link["href"].startswith("https://locator.example.go.th/api/") for link in items["links"]
    )
    assert client.get("/collections", headers={"Host": "evil.example"}).status_code == 400


# --- who the client is -----------------------------------------------------------------------
def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    client: TestClient, make_client: Any
) -> None:
    point = _point_id(client)
    statuses = [
        client.post(
            f"/v1/points/{point}/ratings",
            json={"score": 4},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        ).status_code
        for i in range(10)
    ]
    assert statuses == [201] * 3 + [429] * 7
    # the same from a trusted proxy: each forwarded address is its own client
    trusting = make_client(trusted_proxies=["testclient"])
    point = int(
        trusting.get("/v1/points/nearest", params={**BANGKOK, "k": 2}).json()["results"][1]["id"]
    )
    statuses = [
        trusting.post(
            f"/v1/points/{point}/ratings",
            json={"score": 4},
            headers={"X-Forwarded-For": f"10.0.1.{i}"},
        ).status_code
        for i in range(5)
    ]
    assert statuses == [201] * 5


# --- CORS -----------------------------------------------------------------------------------
def test_public_reads_are_open_to_any_origin_writes_are_not(client: TestClient) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    read = client.get("/v1/services", headers=origin)
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == "*"
    preflight = client.options(
        "/v1/points/nearest",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    write_preflight = client.options(
        "/v1/points/1/ratings",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    # a failed preflight: the browser never sends the write
    assert write_preflight.status_code == 400
    assert "POST" not in write_preflight.headers.get("access-control-allow-methods", "")
    point = _point_id(client)
    write = client.post(f"/v1/points/{point}/ratings", json={"score": 5}, headers=origin)
    assert write.status_code == 201
    assert "access-control-allow-origin" not in write.headers


# --- bodies ---------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_before_it_is_read(make_client: Any) -> None:
    client = make_client(max_body_bytes=4096)
    point = _point_id(client)
    big = b'{"score": 4, "comment": "' + b"x" * 10_000 + b'"}'
    declared = client.post(
        f"/v1/points/{point}/ratings",
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert _error(declared)["details"] == {"max_bytes": 4096}

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield big[:3000]
        yield big[3000:]

    chunked = client.post(
        f"/v1/points/{point}/ratings",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    small = client.post(f"/v1/points/{point}/ratings", json={"score": 4, "comment": "ดีมาก"})
    assert small.status_code == 201, small.text


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"score": 5, "score": 1}', "score"),
        (b'{"score": 4, "comment": "a", "comment": "b"}', "comment"),
    ],
)
def test_a_json_key_given_twice_is_refused(client: TestClient, body: bytes, key: str) -> None:
    point = _point_id(client)
    response = client.post(
        f"/v1/points/{point}/ratings", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = _error(response)
    assert error["message"].startswith(f"{key}:") and "once" in error["message"]
    assert error["details"] == {"key": key}
    # the same key in two different objects is no repetition
    nested = client.post(
        f"/v1/points/{point}/ratings",
        content=b'{"score": 4, "extra": {"score": 1}}',
        headers={"Content-Type": "application/json"},
    )
    assert nested.status_code == 422 and "more than once" not in nested.text


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"score": True}, "score"),
        ({"score": "4"}, "score"),
        ({"score": 4.0}, "score"),
        ({"score": 4, "comment": 5}, "comment"),
        ({"score": 4, "point_id": 1}, "point_id"),
    ],
)
def test_rating_bodies_are_strict(client: TestClient, body: dict[str, Any], name: str) -> None:
    point = _point_id(client)
    response = client.post(f"/v1/points/{point}/ratings", json=body)
    assert response.status_code == 422, response.text
    assert name in _error(response)["message"]


def test_a_rating_that_is_not_json_is_refused(client: TestClient) -> None:
    point = _point_id(client)
    response = client.post(
        f"/v1/points/{point}/ratings", content=b"score=4", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 422


# --- what reached PostgreSQL before -----------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/v1/points/nearest", {**BANGKOK, "at": "2026-03-30T10:00:00+16:00"}, "at"),
        ("/v1/points/nearest", {**BANGKOK, "at": "0.5"}, "at"),
        ("/v1/points/nearest", {**BANGKOK, "at": "99999-01-01T00:00:00"}, "at"),
        ("/v1/points/search", {"q": "bang", "at": "2026-03-30T10:00:00-13:00"}, "at"),
        ("/v1/points/1", {"at": "2026-03-30T10:00:00+16:00"}, "at"),
        ("/v1/points/1", {"at": "1700000000"}, "at"),
        ("/v1/points/search", {"q": "bang\x00"}, "q"),
        ("/v1/points/nearest", {**BANGKOK, "service": "id\x00card"}, "service"),
        ("/v1/services", {"category": "\x00"}, "category"),
        ("/collections/service_points/items", {"kind": "a\x00"}, "kind"),
    ],
)
def test_inputs_postgresql_would_reject_are_a_422_naming_them(
    client: TestClient, path: str, params: dict[str, Any], name: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    error = _error(response)
    assert error["message"].startswith(name) or f"{name}:" in error["message"], error
    assert "psycopg2" not in response.text and "SQL" not in response.text


@pytest.mark.parametrize(
    "path",
    ["/v1/services/%00", "/v1/points/1%00", "/collections/service%00points", "/v1/areas/%00"],
)
def test_a_nul_in_the_path_is_a_422(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert "path" in _error(response)["message"]


@pytest.mark.parametrize("q", ["%", "_", "\\", "😀", "...", "a", "ab", "%_%", "()"])
def test_searches_no_index_can_answer_are_refused_quickly(client: TestClient, q: str) -> None:
    response = client.get("/v1/points/search", params={"q": q})
    assert response.status_code == 422
    assert "q:" in _error(response)["message"]


def test_a_common_word_is_answered_from_a_bounded_set(client: TestClient) -> None:
    body = client.get("/v1/points/search", params={"q": "office", "limit": 5}).json()
    assert body["count"] == 5 and body["truncated"] is True
    assert all("office" in r["name_en"].lower() for r in body["results"])
    near = client.get("/v1/points/search", params={"q": "office", "limit": 5, **BANGKOK}).json()
    assert near["truncated"] is False
    distances = [r["distance_m"] for r in near["results"]]
    assert distances == sorted(distances) and distances[-1] < 5_000
    # the nearest matches really are the nearest: nearest-k agrees
    rare = client.get("/v1/points/search", params={"q": "Bang Rak", "limit": 50}).json()
    assert rare["truncated"] is False
    assert any(r["name_en"].startswith("Bang Rak") for r in rare["results"])


def test_words_match_at_a_word_start_only(client: TestClient) -> None:
    body = client.get("/v1/points/search", params={"q": "district", "limit": 50}).json()
    assert body["results"]
    for r in body["results"]:
        words = r["name_en"].lower().replace(",", " ").split()
        assert any(w.startswith("district") for w in words), r["name_en"]


@pytest.mark.parametrize(
    "path", ["/v1/points/1.0", "/v1/points/+1", "/v1/points/1e3", "/v1/points/01"]
)
def test_ids_are_digits_only(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 422


# --- unknown and repeated parameters, on every route ------------------------------------------
def _get_operations(client: TestClient) -> list[str]:
    paths = client.get("/openapi.json").json()["paths"]
    concrete = []
    for path, operations in paths.items():
        if "get" not in operations:
            continue
        concrete.append(
            path.replace("{point_id}", "1")
            .replace("{code}", "id_card_renewal")
            .replace("{level}", "province")
            .replace("{collectionId}", "service_points")
            .replace("{featureId}", "1")
        )
    return concrete


def test_every_route_refuses_unknown_and_repeated_parameters(client: TestClient) -> None:
    operations = _get_operations(client)
    assert len(operations) >= 14
    for path in operations:
        response = client.get(path, params={"colour": "red"})
        assert response.status_code == 422, (path, response.text)
        error = _error(response)
        assert "colour" in error["message"], (path, error)
    repeated = client.get("/v1/points/1?at=2026-01-01T10:00&at=2026-01-02T10:00")
    assert repeated.status_code == 422
    assert "once" in _error(repeated)["message"]


# --- the OpenAPI document tells the truth ------------------------------------------------------
def test_every_operation_documents_its_error_statuses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"400", "422"} <= documented, (method, path, documented)
            if path not in EXEMPT_FROM_ADMISSION:  # /healthz, /metrics never answer busy
                assert "503" in documented, (method, path, documented)
            if "{" in path:
                assert "404" in documented or path.endswith("/{level}"), (method, path)
            if "requestBody" in operation:  # the body size limit
                assert "413" in documented, (method, path, documented)
            if path.endswith("/ratings") and method == "post":  # the ratings' rate limit
                assert "429" in documented, (method, path, documented)
