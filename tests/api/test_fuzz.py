"""Schemathesis over every operation of the OpenAPI document, in process, against the real
app over the session's real database.

What keeps the API honest here, for every generated request (positive and negative data,
schemathesis' examples, coverage and fuzzing phases):

- no server error: no 5xx except a 503 that says when to retry (``Retry-After``);
- the body conforms to the documented schema, under the documented content type;
- no status code the document does not list;
- invalid input is refused with a 4xx, undeclared methods with 405 and ``Allow``.

How the set-up keeps it real without harming the other tests:

- The schema is the document the app serves (it needs no database, so it is built at
  import): pytest collects one test per operation and a failure names its route.
- Reads go through the app's own read engine (``locator_reader``: read-only connections
  with their statement timeout), exactly as in production; nothing they do can persist.
- Writes go through the app's own write engine (``locator_api``) inside a transaction that
  is rolled back when the request ends: ratings never persist into the session database
  the other tests share, and one request's database error cannot poison the next one.
- Dictionaries feed real values (the collection id, point ids, catalogue codes, Thai
  coordinates) to the parameters some of the time, so the routes behind a lookup answer
  200 as well as 404; ``test_generation_gets_past_the_lookups`` checks that they do.

``bench/fuzz.py`` runs the same configuration (tests/support/fuzz.py) at 1,000 cases per
operation. Failures it found are pinned as plain requests in ``FOUND_BEFORE``, so they
stay fixed whatever the random budget happens to find next time.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from fastapi import Request
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.python import asgi
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.orm import Session

from locator.api import create_app
from locator.api.deps import Writer, get_writer
from tests.support.api import BASE_URL
from tests.support.fuzz import (
    POINT_IDS,
    AsServed,
    FuzzValues,
    catalogue_values,
    fuzz_config,
    openapi_document,
)

EXAMPLES = 30  # fuzzing cases per operation in the normal suite; bench/fuzz.py runs 1,000


def load_schema(max_examples: int, values: FuzzValues) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(
        openapi_document(), config=fuzz_config(max_examples, values)
    )


async def rolled_back_writer(request: Request) -> Writer:
    """The writer dependency, as ``locator_api`` like the real one, but never committed:
    each request's writes vanish when it ends, errors included."""
    engine: Engine = request.app.state.write_engine

    @contextmanager
    def writer() -> Iterator[Session]:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
                    yield s
            finally:
                transaction.rollback()

    return writer


schema = load_schema(EXAMPLES, catalogue_values())


@pytest.fixture(scope="module")
def fuzz_app(db_url: str, engine: Engine) -> Iterator[AsServed]:
    """One app for the module, over the session database, writes rolled back per request."""
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM service_point WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": list(POINT_IDS)},
        ).scalar_one()
    assert found == len(POINT_IDS), "POINT_IDS names points the registry does not have"
    app = create_app(owner_url=db_url)
    app.dependency_overrides[get_writer] = rolled_back_writer
    served_app = AsServed(app)
    try:
        # schemathesis' in-process client runs the app's lifespan (its engines) on its
        # own event loop thread; it stays up for the module and is shut down below
        with asgi.get_client(served_app) as client:
            served = client.get(f"{BASE_URL}/openapi.json")
        assert served.status_code == 200
        assert served.json() == schema.raw_schema, "the fuzzed document is not the served one"
        yield served_app
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def agency_key(engine: Engine) -> str:
    """A DOPA editor's key (committed: the fuzzed writes are rolled back, the account is
    not), so the write routes are fuzzed past their authentication, on DOPA's own
    points (the district offices and province halls among POINT_IDS)."""
    from locator.agencies import accounts

    with engine.begin() as connection:
        username = f"fuzz-{uuid.uuid4().hex[:8]}"
        return accounts.create(connection, username, "dopa", "editor").key


@schema.parametrize()
def test_api(case: Case, fuzz_app: AsServed, agency_key: str) -> None:
    """Every operation, every check (see the module docstring), signed in as an agency
    editor (without a key the write routes only ever say 401: tests/test_agency_writes)."""
    case.call_and_validate(
        app=fuzz_app, base_url=BASE_URL, headers={"Authorization": f"Bearer {agency_key}"}
    )


# --- the generator reaches the routes behind lookups -----------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/collections/{collectionId}"),
        ("GET", "/collections/{collectionId}/items"),
        ("GET", "/collections/{collectionId}/items/{featureId}"),
        ("GET", "/v1/points/{point_id}"),
        ("POST", "/v1/points/{point_id}/ratings"),
        ("GET", "/v1/services/{code}"),
        ("GET", "/v1/agencies/{code}/progress"),
        ("GET", "/v1/points/search"),
        ("GET", "/v1/isochrone"),
        ("PATCH", "/v1/points/{point_id}"),
        ("GET", "/v1/points/{point_id}/history"),
    ],
)
def test_generation_gets_past_the_lookups(
    fuzz_app: AsServed, agency_key: str, method: str, path: str
) -> None:
    """Random ids and codes meet a 404 (or a 422) every time; without the dictionaries
    the checks above would only ever see error bodies on these routes."""
    operation = schema[path][method]
    statuses: Counter[int] = Counter()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        headers = {"Authorization": f"Bearer {agency_key}"}
        statuses[case.call(app=fuzz_app, base_url=BASE_URL, headers=headers).status_code] += 1

    run()
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) >= 3, statuses


# --- failures the fuzzer found (and were fixed), pinned -----------------------------------
# Each is the minimal request that showed one distinct failure; they run through the same
# checks as the fuzzing above.
FOUND_BEFORE = [
    pytest.param(
        "GET",
        "/collections/{collectionId}/items",
        {"collectionId": "service_points"},
        {"limit": 0},
        id="items-422-documented-as-geojson",
    ),
    pytest.param(
        "GET",
        "/collections/{collectionId}/items",
        {"collectionId": "nope"},
        {},
        id="items-404-documented-as-geojson",
    ),
    pytest.param(
        "GET",
        "/collections/{collectionId}/items/{featureId}",
        {"collectionId": "service_points", "featureId": "0"},
        {},
        id="item-404-documented-as-geojson",
    ),
    pytest.param(
        "GET",
        "/collections/{collectionId}/items/{featureId}",
        {"collectionId": "service_points", "featureId": "1"},
        {"f": "xml"},
        id="item-422-documented-as-geojson",
    ),
]


@pytest.mark.parametrize(("method", "path", "path_parameters", "query"), FOUND_BEFORE)
def test_found_before_stays_fixed(
    fuzz_app: AsServed,
    method: str,
    path: str,
    path_parameters: dict[str, str],
    query: dict[str, Any],
) -> None:
    """A failure the fuzzer found, replayed exactly: it must not need luck to be seen."""
    case = schema[path][method].Case(path_parameters=path_parameters, query=query)
    case.call_and_validate(app=fuzz_app, base_url=BASE_URL)


# --- the isochrone on real roads, through the same checks -------------------------------
MONACO_CASINO = {"lat": 43.7396, "lon": 7.4246}


@pytest.mark.parametrize(
    ("query", "status", "method"),
    [
        pytest.param({**MONACO_CASINO, "minutes": 15}, 200, "road_graph", id="drive"),
        pytest.param({**MONACO_CASINO, "minutes": 60, "mode": "walk"}, 200, "road_graph",
                     id="walk"),
        pytest.param({"lat": 43.728, "lon": 7.442, "minutes": 5}, 422, None, id="off-road"),
        pytest.param({"lat": 13.7563, "lon": 100.5018, "minutes": 5}, 200, "straight_line",
                     id="no-network-here"),
    ],
)  # fmt: skip
def test_isochrone_on_real_roads_conforms(
    fuzz_app: AsServed,
    monaco_roads: object,
    query: dict[str, Any],
    status: int,
    method: str | None,
) -> None:
    """The fuzzed document against the answers on Monaco's imported roads (the fuzzing
    above rarely draws a latitude and a longitude of the same place)."""
    case = schema["/v1/isochrone"]["GET"].Case(query=query)
    response = case.call_and_validate(app=fuzz_app, base_url=BASE_URL)
    assert response.status_code == status
    if method:
        assert response.json()["properties"]["method"] == method
