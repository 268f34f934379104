"""The one map from errors to HTTP statuses, with structured JSON bodies.

Every error body has the same shape, so clients parse one thing:
``{"error": {"code": "...", "message": "what to fix", "details": {...}}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from locator import errors as e

log = logging.getLogger("locator.api")

STATUS: dict[type[e.LocatorError], int] = {
    e.InvalidInput: 400,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.PreconditionRequired: 428,
    e.RateLimited: 429,
    e.ConfigurationError: 503,
    e.DatabaseUnavailable: 503,
}


def status_for(exc: e.LocatorError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path", "header")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.LocatorError)
    async def _domain(_: Request, exc: e.LocatorError) -> JSONResponse:
        headers = {}
        if isinstance(exc, e.RateLimited):
            headers["Retry-After"] = str(exc.retry_after_s)
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details or None),
            status_code=status_for(exc),
            headers=headers,
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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            error_body("database_unavailable", "the database is not reachable; try again"),
            status_code=503,
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        # A constraint the domain did not pre-check: still the caller's data, not our crash.
        orig = getattr(exc, "orig", None)
        pgcode = getattr(orig, "pgcode", None) or ""
        if pgcode.startswith("23") or pgcode.startswith("22"):
            diag = getattr(orig, "diag", None)
            detail = getattr(diag, "message_primary", None) or "constraint violated"
            return JSONResponse(error_body("invalid_input", detail), status_code=400)
        log.exception("database error")
        return JSONResponse(error_body("internal", "internal database error"), status_code=500)
