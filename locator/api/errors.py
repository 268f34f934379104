"""The one map from errors to HTTP statuses, with structured JSON bodies.

Every error body has the same shape, so clients parse one thing:
``{"error": {"code": "...", "message": "what to fix", "details": {...}}}``.
No database message ever reaches a client: a database that is down, restarting or too
slow is a 503 with Retry-After; anything else the database refuses is logged and
answered without its text.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from locator import errors as e

log = logging.getLogger("locator.api")

STATUS: dict[type[e.LocatorError], int] = {
    e.InvalidInput: 422,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.PreconditionRequired: 428,
    e.RateLimited: 429,
    e.ConfigurationError: 503,
    e.DatabaseUnavailable: 503,
    e.EngineUnavailable: 503,
    e.Busy: 503,
}

# SQLSTATEs that mean "not now" rather than "never": the database is shutting down,
# restarting, out of connections, or a bounded wait ran out.
_BUSY_SQLSTATES = {
    "57014": "a query took longer than allowed",  # statement_timeout
    "55P03": "a lock could not be had in the time allowed",  # lock_timeout
    "25P03": "a transaction stayed idle too long",  # idle_in_transaction
    "40001": "a concurrent change got in the way",  # serialization failure
    "40P01": "a concurrent change got in the way",  # deadlock
}


class ErrorInfo(BaseModel):
    code: str = Field(description="machine-readable error code")
    message: str = Field(description="what went wrong and what to fix")
    details: dict[str, Any] | list[Any] = Field(description="structured details, may be empty")


class ErrorBody(BaseModel):
    error: ErrorInfo


_DESCRIPTIONS = {
    400: "The request itself is malformed (an unknown Host, a bad Content-Length)",
    401: "No API key, or one that is unknown, revoked or rotated away",
    403: "Your account's role or agency may not do this",
    404: "No such resource",
    409: "It would duplicate another point of your agency (its id is in the details)",
    412: "The point changed since you read it (If-Match is stale): read it again",
    428: "This change needs If-Match with the point's ETag",
    413: "The body is larger than the server accepts",
    422: "A parameter or field is wrong; the message names it and says what to fix",
    429: "Too many requests of this kind from this client; see Retry-After",
    503: "The database is unavailable or the server is busy; retry after Retry-After",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with the one error body."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def status_for(exc: e.LocatorError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path", "header")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _retry_after(request: Request) -> dict[str, str]:
    return {"Retry-After": str(request.app.state.settings.retry_after_s)}


def _unavailable(request: Request, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=503, headers=_retry_after(request))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.LocatorError)
    async def _domain(request: Request, exc: e.LocatorError) -> JSONResponse:
        headers = {}
        status = status_for(exc)
        if isinstance(exc, e.RateLimited):
            headers["Retry-After"] = str(exc.retry_after_s)
        elif status == 503:
            headers.update(_retry_after(request))
        elif isinstance(exc, e.Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="locator"'
        elif isinstance(exc, e.PreconditionFailed) and exc.details.get("current_etag"):
            headers["ETag"] = str(exc.details["current_etag"])
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_input", _validation_message(errors), errors), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            from locator.api.deps import allowed_methods

            headers["Allow"] = ", ".join(sorted(allowed_methods(request)))
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(PoolTimeout)
    async def _pool_full(request: Request, _: PoolTimeout) -> JSONResponse:
        return _unavailable(request, "busy", "all database connections are busy; try again")

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        orig = getattr(exc, "orig", None)
        pgcode = getattr(orig, "pgcode", None) or ""
        if pgcode in _BUSY_SQLSTATES:
            log.warning("database busy (%s): %s", pgcode, orig)
            return _unavailable(request, "busy", f"{_BUSY_SQLSTATES[pgcode]}; try again")
        if (
            exc.connection_invalidated
            or pgcode.startswith(("08", "53", "57P"))  # connection, resources, shutdown
            or (not pgcode and isinstance(exc, OperationalError | InterfaceError))
        ):
            log.warning("database unavailable: %s", orig)
            return _unavailable(
                request, "database_unavailable", "the database is not reachable; try again"
            )
        log.error("database refused a request (%s)", pgcode, exc_info=exc)
        if pgcode.startswith(("22", "23")):
            # a value the validation let through: still the caller's data, not our crash
            return JSONResponse(
                error_body("invalid_input", "a value in the request cannot be used"),
                status_code=422,
            )
        return JSONResponse(error_body("internal", "internal error"), status_code=500)
