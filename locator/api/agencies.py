"""The agencies' read door: how far an agency is with pinning its points. Public, like
``/v1/stats``: the counts reveal nothing a map of the points does not. The route only
translates HTTP to ``locator.agency_progress`` and back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from locator import agency_progress
from locator.api.citizens import json_response
from locator.api.deps import ReaderDep
from locator.api.errors import error_responses
from locator.schemas import CODE, AgencyProgress

router = APIRouter(prefix="/v1", tags=["agencies"], responses=error_responses(400, 422, 503))

AgencyCode = Annotated[
    str,
    Path(
        pattern=CODE,
        max_length=64,
        description="an agency code: a department (`dopa`, `dla`, `moph_ops`), a ministry "
        "(`rtp`, `moi`) or one office (`dopa_50`); its sub-agencies' points count as its own",
        examples=["dopa"],
    ),
]


@router.get(
    "/agencies/{code}/progress",
    response_model=AgencyProgress,
    summary="An agency's pinning progress by province: points to pin, pinned, validated "
    "by the pin check",
    responses=error_responses(404),
)
def progress(reader: ReaderDep, code: AgencyCode) -> Response:
    with reader() as db:
        body = agency_progress.progress(db, code)
    return json_response(body)
