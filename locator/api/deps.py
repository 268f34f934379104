"""Dependencies shared by the routers: the settings, a reader, a writer, the parameter check.

Reads and writes both reach the database inside the route's own worker thread and give
their connection back before the route returns: nothing holds a connection, a
transaction or a lock across a hop between threads. (A generator dependency yielding a
session committed in its cleanup, which needs a worker thread of its own; with every
worker thread waiting on a lock that commit would release, the server froze.)
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any, Protocol, TypeVar, cast

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from locator.agencies import accounts
from locator.db.engine import Executor
from locator.db.replicas import ReadRouting
from locator.errors import InvalidInput
from locator.settings import Settings

T = TypeVar("T")


class Reader(Protocol):
    """How a read-only route reaches the database: ``reader(lambda db: query(db, ...))``.

    A function of a connection rather than a ``with`` block, so that a read whose
    replica fails under it can run again on the primary (``locator.db.replicas``)."""

    def __call__(self, work: Callable[[Executor], T], /) -> T: ...


Writer = Callable[[], AbstractContextManager[Session]]

WROTE_COOKIE = "locator_wrote"
"""Set on a citizen's write: their reads go to the primary while a replica may still miss it."""


async def get_settings_dep(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_reader(request: Request) -> Reader:
    """How a read-only route reaches the database: ``reader(lambda db: ...)``.

    The route runs it in its own worker thread, holding a pooled autocommit connection
    (``make_read_engine``) only while it queries. A generator dependency yielding a
    session instead cost a quarter of a nearest request's CPU: the ORM session's
    bookkeeping, and an async exit stack with a shielded cancel scope to close it.
    Checking out here, on the event loop, is no option: a full pool would block the loop.

    Public reads go to the read replicas when there are any; a request with a key (an
    agency reads what it has just written: everything authenticated) and a citizen's
    requests just after a write of theirs (``WROTE_COOKIE``) read the primary.
    """
    reads = cast(ReadRouting, request.app.state.reads)
    if "authorization" in request.headers or WROTE_COOKIE in request.cookies:
        return reads.on_primary
    return reads


def remember_write(response: Response, settings: Settings) -> None:
    """Read-your-writes for a citizen: a rating shows in their next reads at once.

    The replicas in use are at most ``replica_max_lag_s`` behind, and the checker looks
    every ``replica_check_s``: for that long the writer's reads go to the primary. A
    cookie, not the server's memory, because the next request may reach another API
    machine; a client that keeps no cookies sees its rating a moment later, like anyone.
    Nothing is set when there are no replicas (every read is the primary's then)."""
    if settings.read_database_urls:
        response.set_cookie(
            WROTE_COOKIE,
            "1",
            max_age=math.ceil(settings.replica_max_lag_s + settings.replica_check_s),
            httponly=True,
            samesite="lax",
        )


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


def documented_methods(
    openapi: dict[str, Any],
) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
    """Each documented path as a pattern, with its methods, literal paths first (OpenAPI:
    a concrete path outranks a template that also matches it)."""
    out = []
    for path, operations in openapi.get("paths", {}).items():
        methods = {m.upper() for m in operations if m in _HTTP_METHODS}
        if "GET" in methods:
            methods.add("HEAD")
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
        out.append((pattern, path, frozenset(methods)))
    return sorted(out, key=lambda item: "{" in item[1])


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def allowed_methods(request: Request) -> set[str]:
    """The methods the document gives this path (Starlette's own 405 names only the first
    matching route's, and ``/v1/points/{id}`` has two routers': GET; PATCH and DELETE)."""
    path = request.url.path
    for pattern, documented, methods in getattr(request.app.state, "path_methods", []):
        if "{" not in documented and pattern.match(path):
            return set(methods)
    found: set[str] = set()
    for pattern, _, methods in getattr(request.app.state, "path_methods", []):
        if pattern.match(path):
            found |= methods
    return found


def _literal_path_first(request: Request, route: Any) -> None:
    """PATCH /v1/points/nearest is a method /v1/points/nearest does not have (405), not
    an edit of point "nearest"."""
    if route is None or "{" not in getattr(route, "path", ""):
        return
    allowed = allowed_methods(request)
    if allowed and request.method not in allowed:
        raise StarletteHTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})


async def reject_unknown_parameters(request: Request) -> None:
    """Every route refuses query parameters it does not declare, and repeated ones: a
    typo in a filter's name must not silently answer unfiltered results.

    The exception is the HTML page (``/app``, left out of the OpenAPI document): its
    query string is the state of the map, read by the page's own script.
    """
    route: Any = request.scope.get("route")
    _literal_path_first(request, route)
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

# auto_error off: a missing or malformed header is our 401 with our error body, not
# FastAPI's 403; the scheme still tells OpenAPI (and so schemathesis) how to sign in
bearer = HTTPBearer(auto_error=False, description="an account's API key (`locator accounts`)")


def get_current_account(
    writer: WriterDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> accounts.Account:
    """The account behind the request's bearer key. A plain function, so FastAPI runs it
    in a worker thread: the key lookup (and its last-use stamp) is a short transaction of
    its own, finished before the route opens the write's."""
    with writer() as session:
        return accounts.authenticate(session, credentials.credentials if credentials else None)


CurrentAccount = Annotated[accounts.Account, Depends(get_current_account)]


_slots_lock = threading.Lock()


def work_slots(request: Request, name: str, limit: int) -> threading.BoundedSemaphore:
    """The app's ``limit`` slots for one kind of heavy work (a bulk import, a coverage
    run), made on first use: such work holds a worker thread and a core for seconds, and
    a bound per kind keeps it from taking every thread from the citizens' searches."""
    with _slots_lock:
        slots = getattr(request.app.state, name, None)
        if slots is None:
            slots = threading.BoundedSemaphore(limit)
            setattr(request.app.state, name, slots)
    return cast(threading.BoundedSemaphore, slots)
