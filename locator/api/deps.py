"""Dependencies shared by the routers: the settings, a reader, a writer, the parameter check.

Reads and writes both reach the database inside the route's own worker thread and give
their connection back before the route returns: nothing holds a connection, a
transaction or a lock across a hop between threads. (A generator dependency yielding a
session committed in its cleanup, which needs a worker thread of its own; with every
worker thread waiting on a lock that commit would release, the server froze.)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from locator.db import Executor
from locator.errors import InvalidInput
from locator.settings import Settings

Reader = Callable[[], AbstractContextManager[Executor]]
Writer = Callable[[], AbstractContextManager[Session]]


async def get_settings_dep(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_reader(request: Request) -> Reader:
    """How a read-only route reaches the database: ``with reader() as db: ...``.

    The route opens it in its own worker thread and holds a pooled autocommit connection
    (``make_read_engine``) only while it queries. A generator dependency yielding a
    session instead cost a quarter of a nearest request's CPU: the ORM session's
    bookkeeping, and an async exit stack with a shielded cancel scope to close it.
    Checking out here, on the event loop, is no option: a full pool would block the loop.
    """
    return cast(Reader, request.app.state.read_engine.connect)


async def get_writer(request: Request) -> Writer:
    """How a writing route reaches the database: ``with writer() as session: ...``, one
    transaction, committed when the block ends and rolled back if it raises, all in the
    route's thread."""
    return cast(Writer, request.app.state.session_factory.begin)


def query_parameter_names(openapi: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """(path, method) -> the query parameters the OpenAPI document declares there.

    Made once at start-up: building the document takes most of a second, which must not
    fall on the first request (on the event loop, where it would stall everyone)."""
    names: dict[tuple[str, str], frozenset[str]] = {}
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            names[(path, method)] = frozenset(p["name"] for p in params if p.get("in") == "query")
    return names


async def reject_unknown_parameters(request: Request) -> None:
    """Every route refuses query parameters it does not declare, and repeated ones: a
    typo in a filter's name must not silently answer unfiltered results.

    The exception is the HTML page (``/app``, left out of the OpenAPI document): its
    query string is the state of the map, read by the page's own script.
    """
    route: Any = request.scope.get("route")
    if not request.scope.get("query_string") or not getattr(route, "include_in_schema", True):
        return
    names = [name for name, _ in request.query_params.multi_items()]
    method = "get" if request.method == "HEAD" else request.method.lower()
    allowed = request.app.state.query_names.get((route.path_format, method), frozenset())
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(
            f"{', '.join(unknown)}: unknown query parameter{'s' if len(unknown) > 1 else ''}; "
            f"this route accepts: {accepted}",
            unknown=unknown,
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInput(
            f"{', '.join(repeated)}: give each query parameter once", repeated=repeated
        )


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ReaderDep = Annotated[Reader, Depends(get_reader)]
WriterDep = Annotated[Writer, Depends(get_writer)]
