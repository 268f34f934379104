"""Schemathesis over the API: one configuration and one set of checks for the test
(tests/api/test_fuzz.py, 30 cases per operation) and the bench (bench/fuzz.py, 1,000).

Importing this registers the ``unavailable_says_when_to_retry`` check with schemathesis.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import schemathesis
from fastapi import FastAPI
from schemathesis import Case, CheckContext, Response
from starlette.types import Message, Receive, Scope, Send

from locator.api import create_app
from locator.ingest.catalogue import read_catalogue
from locator.settings import get_settings
from tests.support.api import BASE_URL

log = logging.getLogger(__name__)

SEED = 2021

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
        # an edit's precondition: the version every loaded point starts at, so that
        # edits get past the ETag check to the edit itself (``*`` names no version: 428)
        "if_match": ['"v1"', "*"],
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
                # process (a schemathesis limitation); tests/agencies/test_agency_writes.py
                # checks that missing, unknown, revoked and rotated keys get 401
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
