"""Liveness and readiness, for load balancers and `make demo`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from locator.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={503: {"description": "Not ready: the body says why"}},
)
def readyz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    head = head_revision()
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    except SQLAlchemyError as exc:
        reason = f"database unreachable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    if revision != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"migrations not at head (database {revision}, code {head}); "
                "run `locator migrate`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "revision": revision})
