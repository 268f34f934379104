"""Liveness and readiness, for load balancers and `make demo`; metrics, for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from locator import metrics as process_metrics
from locator.api.errors import error_body, error_responses
from locator.api.observability import address_allowed
from locator.db.migrate import current_revision, head_revision
from locator.errors import Forbidden

router = APIRouter(tags=["health"], responses=error_responses(400, 422))


@router.get("/healthz", summary="The process is up (answers even when all workers are busy)")
async def healthz() -> dict[str, str]:
    # async and without the database: it runs on the event loop, outside the admission
    # limit and the worker threads, so it stays quick under any load
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head; the read replicas in use",
    responses=error_responses(503),
)
def readyz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.read_engine
    head = head_revision()
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    except SQLAlchemyError as exc:
        return _not_ready(request, f"database unreachable ({type(exc).__name__})")
    if revision != head:
        return _not_ready(
            request,
            f"migrations not at head (database {revision}, code {head}); run `locator migrate`",
        )
    # the read replicas as this process sees them (counts and lag, never addresses)
    reads = request.app.state.reads.state()
    return JSONResponse({"status": "ok", "revision": revision, "reads": reads})


def _not_ready(request: Request, reason: str) -> JSONResponse:
    return JSONResponse(
        error_body("not_ready", reason),
        status_code=503,
        headers={"Retry-After": str(request.app.state.settings.retry_after_s)},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics of every worker (only to LOCATOR_METRICS_ALLOWED addresses)",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus' text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        403: {
            **error_responses(403)[403],
            "description": "The client's address is not in LOCATOR_METRICS_ALLOWED",
        },
    },
)
async def metrics(request: Request) -> Response:
    """Requests by route and status, latencies, the database pools and their waits,
    admission refusals, routing-engine calls, import and coverage runs.

    Like ``/healthz``, outside the admission limit and on the event loop, so a busy
    server still reports how busy it is. Served only to the client addresses in
    ``metrics_allowed`` (this machine by default; behind a trusted proxy, the
    forwarded address): the figures tell an outsider how to hurt the service most.
    """
    client = request.client.host if request.client else None
    if not address_allowed(client, request.app.state.settings.metrics_allowed):
        raise Forbidden("metrics are served only to the addresses in LOCATOR_METRICS_ALLOWED")
    body, content_type = process_metrics.exposition()
    return Response(body, media_type=content_type)
