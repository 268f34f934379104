"""The agencies' door: pin, edit, close and offer services at their own points.

Routes only translate HTTP to ``locator.agencies.pinning`` and back: the caller's account from
its bearer key (``CurrentAccount``), the body from the Create / Update schemas (their
allow-list is the only way in), ``If-Match`` to the domain, and the point as the public
detail shows it, with its new ETag.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from sqlalchemy.orm import Session

from locator.agencies import accounts, pinning
from locator.api.deps import CurrentAccount, SettingsDep, Writer, WriterDep
from locator.api.errors import error_responses
from locator.api.params import PointId
from locator.api.responses import json_response
from locator.api.schemas import (
    AccountPublic,
    OfferingPut,
    PointCreate,
    PointHistory,
    PointUpdate,
    PointWritten,
)
from locator.errors import Forbidden
from locator.query.detail import point_detail
from locator.registry.etags import detail_etag
from locator.registry.fields import CODE

router = APIRouter(
    prefix="/v1", tags=["agencies"], responses=error_responses(400, 401, 403, 422, 503)
)

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="the point's ETag as you last read it (GET /v1/points/{id} or a write)",
    ),
]
Override = Annotated[
    bool,
    Query(
        description="save although the pin check finds the pin and the address disagree "
        "(recorded; the point then needs review)"
    ),
]
ConfirmDuplicate = Annotated[
    bool, Query(description="save although your agency has a similar point nearby")
]
DryRun = Annotated[
    bool,
    Query(
        description="check the change (the pin check included) and answer the point as it "
        "would be, without saving it"
    ),
]
ServiceCode = Annotated[str, Path(pattern=CODE, max_length=64, description="a catalogue code")]


def _written(
    session: Any, result: pinning.WriteResult, status: int = 200, dry_run: bool = False
) -> Response:
    detail = point_detail(session, result.point_id)
    body: dict[str, Any] = {"point": detail, "overridden": result.flags}
    if dry_run:
        # the point as it would be; no ETag or Location: nothing of it exists
        body["dry_run"] = True
        return json_response(body)
    response = json_response(body)
    response.status_code = status
    response.headers["ETag"] = detail_etag(result.version, bytes(json_response(detail).body))
    if status == 201:
        response.headers["Location"] = f"/v1/points/{result.point_id}"
    return response


@contextmanager
def _write(writer: Writer, dry_run: bool) -> Iterator[Session]:
    """The write's transaction; a dry run's work is undone at a savepoint after its answer
    is made, so it runs the very same checks and SQL as the real write."""
    with writer() as session:
        if not dry_run:
            yield session
            return
        savepoint = session.begin_nested()
        try:
            yield session
        finally:
            savepoint.rollback()


@router.get(
    "/me",
    response_model=AccountPublic,
    summary="Who the key belongs to: the account, its role and its agency",
    responses=error_responses(401),
)
def me(writer: WriterDep, account: CurrentAccount) -> Response:
    with writer() as session:
        agency = accounts.agency_of(session, account)
    return json_response({"username": account.username, "role": account.role, "agency": agency})


@router.post(
    "/points",
    response_model=PointWritten,
    status_code=201,
    summary="Pin a new service point of your agency",
    responses=error_responses(409, 413),
)
def create_point(
    writer: WriterDep,
    settings: SettingsDep,
    account: CurrentAccount,
    body: PointCreate,
    override: Override = False,
    confirm_duplicate: ConfirmDuplicate = False,
    dry_run: DryRun = False,
) -> Response:
    values = body.model_dump(exclude_unset=True)
    with _write(writer, dry_run) as session:
        result = pinning.create(session, settings, account, values, override=override,
                                confirm_duplicate=confirm_duplicate)  # fmt: skip
        return _written(session, result, 201, dry_run)


@router.patch(
    "/points/{point_id}",
    response_model=PointWritten,
    summary="Change your agency's point: move the pin, names, address, phones, hours, status",
    responses=error_responses(404, 409, 412, 413, 428),
)
def update_point(
    writer: WriterDep,
    settings: SettingsDep,
    account: CurrentAccount,
    point_id: PointId,
    body: PointUpdate,
    if_match: IfMatch = None,
    override: Override = False,
    confirm_duplicate: ConfirmDuplicate = False,
    dry_run: DryRun = False,
) -> Response:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    with _write(writer, dry_run) as session:
        result = pinning.update(session, settings, account, point_id, changes, if_match,
                                override=override, confirm_duplicate=confirm_duplicate)  # fmt: skip
        return _written(session, result, dry_run=dry_run)


@router.put(
    "/points/{point_id}/offerings/{service}",
    response_model=PointWritten,
    summary="Offer a service at your point, with its No-Copy status (copies_required)",
    responses=error_responses(404, 412, 413, 428),
)
def put_offering(
    writer: WriterDep,
    settings: SettingsDep,
    account: CurrentAccount,
    point_id: PointId,
    service: ServiceCode,
    body: OfferingPut,
    if_match: IfMatch = None,
) -> Response:
    with writer() as session:
        result = pinning.put_offering(session, settings, account, point_id, service,
                                      body.model_dump(), if_match)  # fmt: skip
        return _written(session, result)


@router.delete(
    "/points/{point_id}",
    response_model=PointWritten,
    summary="Close your agency's point (kept, with its history, as closed)",
    responses=error_responses(404, 412, 428),
)
def close_point(
    writer: WriterDep, account: CurrentAccount, point_id: PointId, if_match: IfMatch = None
) -> Response:
    with writer() as session:
        result = pinning.close(session, account, point_id, if_match)
        return _written(session, result)


@router.get(
    "/points/{point_id}/history",
    response_model=PointHistory,
    summary="Every change of your agency's point: who, when, which field, old and new",
    responses=error_responses(404),
)
def point_history(writer: WriterDep, account: CurrentAccount, point_id: PointId) -> Response:
    with writer() as session:
        changes = pinning.history(session, account, point_id)
    return json_response({"point_id": point_id, "changes": changes})


@router.get(
    "/review",
    summary="The platform admins' review queue: points whose pin check needs a look",
)
def review_queue(
    writer: WriterDep,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    if not account.is_platform_admin:
        raise Forbidden("the review queue is for platform admins")
    with writer() as session:
        items = pinning.review_queue(session, limit)
    return json_response({"count": len(items), "points": items})
