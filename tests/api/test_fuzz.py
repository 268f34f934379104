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

``bench/fuzz.py`` runs the same configuration at 1,000 cases per operation. Failures it
found are pinned as plain requests in ``FOUND_BEFORE``, so they stay fixed whatever the
random budget happens to find next time.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI, Request
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, CheckContext, Response
from schemathesis.python import asgi
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from locator.api import create_app
from locator.api.deps import Writer, get_writer
from locator.ingest.catalogue import read_catalogue
from locator.settings import get_settings
from tests.conftest import BASE_URL

log = logging.getLogger(__name__)

SEED = 2021
EXAMPLES = 30  # fuzzing cases per operation in the normal suite; bench/fuzz.py runs 1,000

# The registry numbers its points 1..N in build order, the 5,266 real offices first, so
# these exist in every registry built from the shared data (the fixture checks it).
POINT_IDS = tuple(range(1, 5001, 250))
# Words that name many points, in both languages (English matches by word start).
SEARCH_WORDS = ("Bangkok", "Chiang", "district", "hospital", "police", "อำเภอ", "เทศบาล")
# Places in Thailand, so a radius or a nearest search meets points near the origin.
LATITUDES = (13.7563, 18.7883, 7.0, 15.2)
LONGITUDES = (100.5018, 98.9853, 100.47, 104.8)
BBOXES = ("100.3,13.5,100.9,14.0", "98.9,18.7,99.1,18.9", "100.5,13.7,100.5001,13.7001")
# lat,lon places for a route's ends (and point ids for its destination)
PLACES = ("13.7563,100.5018", "18.7883,98.9853", "7.0,100.47")
# an isochrone's travel times, within LOCATOR_MAX_ISOCHRONE_MINUTES (its origin is lat/lon)
MINUTES = (1, 5, 15, 60)
MOMENTS = ("2026-11-23T10:00:00+07:00", "2026-11-29T10:00:00+07:00", "2026-11-23T12:30:00Z")


@dataclass(frozen=True)
class FuzzValues:
    """Real values the generator mixes in, so requests get past the lookups behind them."""

    point_ids: Sequence[int]
    service_codes: Sequence[str]
    kinds: Sequence[str]
    agencies: Sequence[str]
    categories: Sequence[str]


def catalogue_values() -> FuzzValues:
    """Values known before any database exists: the catalogue's codes and POINT_IDS."""
    catalogue = read_catalogue(get_settings().catalogue_dir)
    return FuzzValues(
        point_ids=POINT_IDS,
        service_codes=sorted(s.code for s in catalogue.services),
        kinds=sorted(k.kind for k in catalogue.kinds),
        agencies=sorted(agency.code for agency, _ in catalogue.departments()),
        categories=sorted({s.category for s in catalogue.services}),
    )


def fuzz_config(max_examples: int, values: FuzzValues, seed: int = SEED) -> schemathesis.Config:
    """One configuration for the test and the bench, so both hold the API to the same checks.

    ``positive_data_acceptance`` is off: the API refuses some well-formed values on purpose
    (an unknown agency code, a service the point does not offer, a year before 1900), so it
    would fail on design decisions for ever. Where those refusals are undocumented, the fix
    belongs in the OpenAPI document (bounds, enums), and then this check can be turned on.
    """
    dictionaries: dict[str, Sequence[Any]] = {
        "collections": ["service_points"],
        "point_ids": list(values.point_ids),
        "feature_ids": [str(i) for i in values.point_ids],
        "services": list(values.service_codes),
        "kinds": list(values.kinds),
        "agencies": list(values.agencies),
        "categories": list(values.categories),
        "words": list(SEARCH_WORDS),
        "latitudes": list(LATITUDES),
        "longitudes": list(LONGITUDES),
        "bboxes": list(BBOXES),
        "moments": list(MOMENTS),
        "places": list(PLACES),
        "route_ends": [*PLACES, *(str(i) for i in values.point_ids)],
        "minutes": list(MINUTES),
        # an edit's precondition: "*" gets past the ETag check to the edit itself
        "if_match": ["*"],
    }
    bindings = {
        "path.collectionId": ("collections", 0.75),
        "path.featureId": ("feature_ids", 0.5),
        "path.point_id": ("point_ids", 0.5),
        "path.code": ("services", 0.5),
        "query.service": ("services", 0.5),
        "query.kind": ("kinds", 0.5),
        "query.agency": ("agencies", 0.3),
        "query.category": ("categories", 0.5),
        "query.q": ("words", 0.5),
        "query.lat": ("latitudes", 0.5),
        "query.lon": ("longitudes", 0.5),
        "query.bbox": ("bboxes", 0.5),
        "query.at": ("moments", 0.3),
        "query.from": ("places", 0.5),
        "query.to": ("route_ends", 0.5),
        "query.minutes": ("minutes", 0.5),
        "body.service": ("services", 0.3),
        "header.If-Match": ("if_match", 0.5),
    }
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "base-url": BASE_URL,  # a Host the API answers to (LOCATOR_ALLOWED_HOSTS)
            "continue-on-failure": True,  # the bench counts every failing case
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # 503 is the API's "not now"; unavailable_says_when_to_retry holds it to
                # its Retry-After, every other 5xx fails here
                "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
                "positive_data_acceptance": {"enabled": False},
                # its unauthenticated probe goes out over `requests`, not to the app in
                # process (a schemathesis limitation); tests/test_agency_writes.py checks
                # that missing, unknown, revoked and rotated keys get 401
                "ignored_auth": {"enabled": False},
            },
            "dictionaries": {name: {"values": v} for name, v in dictionaries.items()},
            "parameters": {
                key: {"dictionary": name, "probability": p} for key, (name, p) in bindings.items()
            },
            # `code` names a catalogue service everywhere else, an agency here
            "operations": [
                {
                    "include-path": "/v1/agencies/{code}/progress",
                    "parameters": {"path.code": {"dictionary": "agencies", "probability": 0.5}},
                }
            ],
        }
    )


@schemathesis.check
def unavailable_says_when_to_retry(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """A 503 promises that trying again helps; without Retry-After a client cannot tell
    when, so a bare 503 is a server error like any other 5xx."""
    if response.status_code == 503 and not response.headers.get("retry-after"):
        raise AssertionError(f"503 without Retry-After: {response.text[:300]}")
    return None


def openapi_document() -> dict[str, Any]:
    """What the app serves at /openapi.json; building it touches no database."""
    return create_app().openapi()


def load_schema(max_examples: int, values: FuzzValues) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(
        openapi_document(), config=fuzz_config(max_examples, values)
    )


class AsServed:
    """The app as a client of a real server sees it: an unhandled exception is a 500.

    Starlette answers 500 and then re-raises, so that test clients can show the
    traceback; uvicorn logs it and the client gets the 500. The checks must see that
    500 to count it, with the request that caused it, so this does what uvicorn does
    (the traceback goes to the log, which pytest shows with the failure).
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unhandled exception in %s %s", scope["method"], scope["path"])
            if not started:
                headers = [(b"content-type", b"text/plain; charset=utf-8")]
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})


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
