"""The agencies' door for whole sets of points: how far an agency is with pinning them
(public, like ``/v1/stats``: the counts reveal nothing a map of the points does not),
and its points in bulk, out and in (``locator.agencies.bulk``), for the agency's own accounts.
The routes only translate HTTP to the domain and back."""

from __future__ import annotations

import threading
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from locator.agencies import accounts
from locator.agencies.bulk import attempts, export, formats, importer, scope
from locator.analysis import agency_progress
from locator.api.deps import CurrentAccount, ReaderDep, SettingsDep, WriterDep, work_slots
from locator.api.errors import error_responses
from locator.api.responses import json_response
from locator.api.schemas import AgencyProgress, ImportResult
from locator.errors import Busy, InvalidInput
from locator.registry.fields import CODE, Moment
from locator.registry.hours import BANGKOK
from locator.settings import Settings

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
    body = reader(lambda db: agency_progress.progress(db, code))
    return json_response(body)


# --- bulk: export and import an agency's points (issue 12 item 5) --------------------
ExportFormat = Annotated[
    Literal["geojson", "csv", "gpkg"],
    Query(alias="format", description="GeoJSON, CSV (UTF-8, lat/lon columns) or GeoPackage"),
]


def import_allowed(
    request: Request,
    writer: WriterDep,
    settings: SettingsDep,
    account: CurrentAccount,
    code: AgencyCode,
) -> accounts.Account:
    """Whether this account may import into ``code`` now, asked before the file is read
    (the route declares it before the body): a refused post costs its headers, not its
    upload and parse. A busy import slot is a 503 (not counted against the account);
    another agency's door a 404; past ``imports_per_account_per_hour`` a 429 naming when
    to try again (from this process's memory once it has refused the account: no
    database work per refusal). The slot is only looked at here, taken once the file has
    arrived: a slow upload must not hold it."""
    limit = settings.imports_per_account_per_hour
    refusals = _refusals(request)
    refusals.check(account.id, limit)
    slots = work_slots(request, "import_slots", settings.max_concurrent_imports)
    if not slots.acquire(blocking=False):
        raise _busy(settings)
    slots.release()
    with writer() as session:
        scope.check_acts_for(session, account, code)
        refusals.note_attempt(session, account.id, limit)
    return account


_refusals_lock = threading.Lock()


def _refusals(request: Request) -> attempts.Refusals:
    """The app's memory of the accounts it refused an import (made on first use)."""
    with _refusals_lock:
        found = getattr(request.app.state, "import_refusals", None)
        if found is None:
            found = request.app.state.import_refusals = attempts.Refusals()
    return cast(attempts.Refusals, found)


def _busy(settings: Settings) -> Busy:
    return Busy(
        "another import is running on this server; try again in a minute",
        retry_after_s=settings.retry_after_s,
    )


async def raw_body(request: Request) -> bytes:
    """The file as sent (the body limit for this path is ``max_import_bytes``)."""
    return await request.body()


IMPORT_BODY = {
    "required": True,
    "description": "the file itself: CSV (UTF-8, a header row; lat and lon columns), a "
    "GeoJSON FeatureCollection of Points, or a GeoPackage; the columns as the export writes "
    "them",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/geo+json": {"schema": {"type": "object"}},
        "application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.get(
    "/agencies/{code}/points",
    summary="Export your agency's points (and those of the agencies below it) as GeoJSON, "
    "CSV or GeoPackage, for a GIS, a spreadsheet or an incremental sync",
    responses={
        **error_responses(401, 404),
        200: {
            "content": {
                "application/geo+json": {},
                "text/csv": {},
                "application/geopackage+sqlite3": {},
            }
        },
    },
)
def export_points(
    writer: WriterDep,
    account: CurrentAccount,
    code: AgencyCode,
    fmt: ExportFormat = "geojson",
    modified_after: Annotated[
        Moment | None,
        Query(
            description="only points changed after this moment (ISO 8601; no offset: Bangkok "
            "time); closed points are then included, so a sync learns of a closure. Ask "
            "again from a little before the newest updated_at you have: rows are keyed by id"
        ),
    ] = None,
    include_closed: Annotated[bool, Query(description="closed points too")] = False,
) -> Response:
    if modified_after is not None and modified_after.tzinfo is None:
        modified_after = modified_after.replace(tzinfo=BANGKOK)
    with writer() as session:
        scope.check_acts_for(session, account, code)
        rows = export.export_rows(session, code, modified_after=modified_after,
                                include_closed=include_closed)  # fmt: skip
    body = formats.write_file(rows, fmt)
    extension = {"geojson": "geojson", "csv": "csv", "gpkg": "gpkg"}[fmt]
    return Response(
        body,
        media_type=formats.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{code}-points.{extension}"',
            "X-Total-Count": str(len(rows)),
            "Cache-Control": "private, no-store",
        },
    )


@router.post(
    "/agencies/{code}/points:import",
    summary="Import a file of your agency's points: all rows or none, with a per-row report",
    description="Rows are matched to your points by `external_ref` (your own id), or by "
    "`id` as exported, and otherwise created; an empty cell keeps the current value. "
    "Every row goes through the pin check of single writes. With `dry_run=true` nothing "
    "is written and the report says what would be. A refused import answers 422 with the "
    "report in `error.details.report`: each bad row, field and what to fix.",
    response_model=ImportResult,
    responses=error_responses(401, 404, 413, 429),
    openapi_extra={"requestBody": IMPORT_BODY},
)
def import_points(
    request: Request,
    writer: WriterDep,
    settings: SettingsDep,
    account: Annotated[accounts.Account, Depends(import_allowed)],
    code: AgencyCode,
    data: Annotated[bytes, Depends(raw_body)],
    fmt: Annotated[
        Literal["csv", "geojson", "gpkg"] | None,
        Query(alias="format", description="the file's format, if the Content-Type does not say"),
    ] = None,
    dry_run: Annotated[bool, Query(description="check every row, write nothing")] = False,
    override: Annotated[
        bool,
        Query(description="save rows whose pin and address disagree (recorded; reviewed)"),
    ] = False,
    confirm_duplicates: Annotated[
        bool, Query(description="save rows that look like points you already have")
    ] = False,
) -> Response:
    file_format = fmt or formats.detect_format(content_type=request.headers.get("content-type"))
    slots = work_slots(request, "import_slots", settings.max_concurrent_imports)
    if not slots.acquire(blocking=False):  # taken while the file arrived
        raise _busy(settings)
    try:
        table = formats.read_file(data, file_format, max_rows=settings.max_import_rows)
        with writer() as session:
            importer.limit_import_statements(session, settings)
            report = importer.import_points(session, settings, code, table, account_id=account.id,
                                        dry_run=dry_run, override=override,
                                        confirm_duplicates=confirm_duplicates)  # fmt: skip
    finally:
        slots.release()
    body = report.as_dict()
    if not report.ok:
        first = report.problems[0]
        raise InvalidInput(
            f"nothing was imported: {len(report.problems)} problem"
            f"{'s' if len(report.problems) > 1 else ''} in the file; the first: row "
            f"{first.row}, {first.field}: {first.message}",
            report=body,
        )
    return json_response(body)
