"""Analysis over the imported road network: isochrones (what can be reached from a place
within so many minutes). The route translates HTTP to ``locator.isochrone`` and back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from locator import isochrone
from locator.api.citizens import json_response
from locator.api.deps import ReaderDep, SettingsDep
from locator.api.errors import error_responses
from locator.api.queries import IsochroneQuery
from locator.schemas import IsochroneResponse
from locator.status import registry_stats

router = APIRouter(prefix="/v1", tags=["analysis"], responses=error_responses(400, 422, 503))


@router.get(
    "/isochrone",
    response_model=IsochroneResponse,
    summary="The area reachable within so many minutes by road or on foot (GeoJSON), "
    "or a labelled estimate",
)
def isochrone_area(
    reader: ReaderDep, settings: SettingsDep, p: Annotated[IsochroneQuery, Query()]
) -> Response:
    with reader() as db:
        body = isochrone.isochrone(settings, db, p.lat, p.lon, p.minutes, p.mode)
    return json_response(body)


@router.get(
    "/stats",
    response_model=dict[str, Any],
    summary="What the registry holds: points by kind (real, generated) and province, the "
    "synthetic share, No-Copy share, and the pin check's counts per QA flag",
)
def stats(reader: ReaderDep) -> Response:
    with reader() as db:
        body = registry_stats(db)
    return json_response(body)
