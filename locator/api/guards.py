"""What stands between the network and the routes: plain ASGI middlewares, each with one job.

From the outside in (``install_guards``):

1. proxy headers: X-Forwarded-For / -Proto believed only from ``trusted_proxies``
   (uvicorn's own middleware; by default nobody is trusted, so a client cannot pick
   the address the ratings' abuse limit sees);
2. the body: a 413 before a body larger than ``max_body_bytes`` is held in memory
   (``max_import_bytes`` for a bulk import's file), a 408 for one that does not arrive
   within ``body_timeout_s``, a 422 for a JSON key given twice. It comes before
   admission: a client that sends its headers and then nothing holds no slot;
3. admission: at most ``max_concurrent_requests`` requests are worked on at once and
   ``max_waiting_requests`` wait for their turn, each at most ``queue_timeout_ms``;
   beyond that a request gets a quick 503 with Retry-After. An overload therefore costs
   the excess requests a fast refusal instead of everyone an unbounded wait, and ends the
   moment the overload does. It comes before the other checks so that a refusal costs as
   little as it can (under twice the saturation rate, most requests are refusals);
4. the Host check: links are built from the request's host, so only configured hosts
   are answered (400 otherwise);
5. CORS: the public GET routes are readable from any origin; writes are not;
6. request hygiene: a NUL character in the path or a query parameter is a 422 naming
   where it was (PostgreSQL text cannot hold one; nothing else would catch it as cleanly).

Beneath them all, ``locator serve`` bounds what reaches the app at all: a request's head
(line and headers) in bytes and in time, and the URL's length (``api/protocol.py``).

uvicorn's own ``limit_concurrency`` was the first candidate for 3, but it counts open
connections as well as requests, so a load balancer's idle keep-alive connections
would make it refuse everything.

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task and body copy per request
on the hot nearest route.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from locator import metrics
from locator.api.errors import error_body
from locator.settings import Settings

EXEMPT_FROM_ADMISSION = frozenset({"/healthz", "/metrics"})
BULK_IMPORT_PATH = re.compile(r"^/v1/agencies/[^/]+/points:import$")
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """An error in the one shape (``locator.api.errors``), straight from a middleware."""
    body = orjson.dumps(error_body(code, message, details))
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class HostCheck:
    """400 unless the Host header names this deployment (see ``Settings.host_allowed``)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or ""
        try:
            name = urlsplit(f"//{host}").hostname or ""
        except ValueError:  # "[bad", a port that is no number
            name = ""
        if not name or not self.settings.host_allowed(name):
            await send_error(
                send,
                400,
                "invalid_host",
                f"Host {host!r} is not a name this server answers to; use one of: "
                f"{', '.join(self.settings.allowed_hosts) or 'none configured'}",
                {"host": host},
            )
            return
        await self.app(scope, receive, send)


class PublicReadCors:
    """CORS for reading only: GET from the configured origins (any by default).

    Other methods pass by without CORS headers, so a browser on another origin can
    neither send a JSON write (its preflight is refused) nor read the answer to one.
    """

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Accept", "Accept-Language", "If-None-Match"],
            expose_headers=["ETag", "Retry-After", "Link"],
            max_age=3600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # no Origin: a same-origin page or no browser at all, nothing for CORS to add
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "OPTIONS")
            and _header(scope, b"origin") is not None
        ):
            return await self.cors(scope, receive, send)
        await self.app(scope, receive, send)


class RequestHygiene:
    """422 for a NUL character in the path or in a query parameter's name or value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        where = None
        if "\x00" in scope.get("path", ""):
            where = "path"
        elif b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get("query_string", b""):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            for name, value in pairs:
                if "\x00" in name or "\x00" in value:
                    where = name.replace("\x00", "\\0") or "query"
                    break
        if where is not None:
            await send_error(
                send,
                422,
                "invalid_input",
                f"{where}: contains a NUL character (%00); remove it",
                {"parameter": where},
            )
            return
        await self.app(scope, receive, send)


Refusal = tuple[int, str, str, dict[str, Any]]
"""An error answer's status, code, message and details (``send_error``'s arguments)."""


class _BodyRefused(Exception):
    """A bulk import's body came too slowly or grew too large while the route read it."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.answer = (status, code, message, details)


class BodyGuard:
    """Bodies are bounded in size and in time, and an ordinary one is read whole before
    the request takes an admission slot.

    An ordinary body (at most ``limit`` bytes) must arrive within ``timeout_s``, else a
    408; it is then handed on from memory, so a client that sends headers and one byte
    holds no slot (issue 20, item 1: sixteen such connections held them all). A JSON body
    with a key given twice is a 422 naming it: which of the two values would count is
    the parser's whim, not the client's intent.

    A bulk import's file (``larger``: up to ``max_import_bytes``) is not held here before
    its key is checked: the route reads it, as a stream bounded by its own size and by
    ``import_timeout_s`` for the whole upload, so a slow upload holds its admission slot
    for that long at most. A declared Content-Length over a limit is a 413 at once.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        timeout_s: float,
        larger: tuple[tuple[re.Pattern[str], int], ...] = (),
        import_timeout_s: float = 300.0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s
        self.larger = larger  # paths that take larger bodies (a bulk import's file)
        self.import_timeout_s = import_timeout_s

    def _larger(self, path: str) -> int | None:
        for pattern, limit in self.larger:
            if pattern.match(path):
                return limit
        return None

    @staticmethod
    def _too_large(limit: int) -> Refusal:
        return (
            413,
            "body_too_large",
            f"the request body is larger than {limit:,} bytes; send less",
            {"max_bytes": limit},
        )

    @staticmethod
    def _too_slow(timeout_s: float) -> Refusal:
        return (
            408,
            "body_timeout",
            f"the request body did not arrive within {timeout_s:g} s; send it at once",
            {"timeout_s": timeout_s},
        )

    @staticmethod
    async def _refuse(send: Send, answer: Refusal) -> None:
        await send_error(send, *answer, headers={"Connection": "close"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            return await self.app(scope, receive, send)
        larger = self._larger(scope["path"])
        limit = self.limit if larger is None else larger
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                await send_error(send, 400, "invalid_input", "Content-Length is not a number")
                return
            if int(length) > limit:
                return await self._refuse(send, self._too_large(limit))
        if larger is not None:
            return await self._streamed(scope, receive, send, limit)
        body = await self._read(receive, limit)
        if isinstance(body, tuple):
            return await self._refuse(send, body)
        if body is None:  # the client left
            return
        if body and _is_json(scope):
            key = _repeated_key(body)
            if key is not None:
                await send_error(
                    send,
                    422,
                    "invalid_input",
                    f"{key}: given more than once in the JSON body; send each key once",
                    {"key": key},
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> bytes | Refusal | None:
        """The whole body within the time allowed, or the refusal, or None if the client
        disconnected."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        return self._too_large(limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            return self._too_slow(self.timeout_s)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Hand the body on as it comes, within ``limit`` bytes and the upload's deadline;
        past either, the route's read fails and the client gets the refusal."""
        deadline = asyncio.get_running_loop().time() + self.import_timeout_s
        size = 0
        started = False

        async def bounded() -> Message:
            nonlocal size
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyRefused(*self._too_slow(self.import_timeout_s)) from None
            size += len(message.get("body", b""))
            if size > limit:
                raise _BodyRefused(*self._too_large(limit))
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except _BodyRefused as refused:
            if not started:
                await self._refuse(send, refused.answer)


def _is_json(scope: Scope) -> bool:
    kind = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _repeated_key(body: bytes) -> str | None:
    """The first key given twice in one object of a JSON body, if any (a body that is no
    JSON is left to the route, which says so)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen and not repeated:
                repeated.append(key)
            seen[key] = value
        return seen

    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return None
    return repeated[0] if repeated else None


class Admission:
    """At most ``limit`` requests at once and ``max_waiting`` in line; a request finding
    the line full, or waiting in it longer than ``queue_timeout_s``, gets a 503 at once.

    Both bounds matter: the line alone (with its timeout) would still make every excess
    request wait out the timeout before its 503, and the server would spend the overload
    holding requests it will refuse anyway.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        max_waiting: int,
        queue_timeout_s: float,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_waiting = max_waiting
        self.queue_timeout_s = queue_timeout_s
        self.retry_after_s = retry_after_s
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        # one per event loop: tests start a fresh loop for each client of the same app
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop, self.waiting = asyncio.Semaphore(self.limit), loop, 0
        return self._slots

    async def _busy(self, send: Send) -> None:
        metrics.ADMISSION_REFUSALS.inc()
        await send_error(
            send,
            503,
            "overloaded",
            "the server is busy; try again shortly",
            {"retry_after_s": self.retry_after_s},
            {"Retry-After": str(self.retry_after_s)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_FROM_ADMISSION:
            return await self.app(scope, receive, send)
        slots = self._semaphore()
        if slots.locked():
            if self.waiting >= self.max_waiting:
                return await self._busy(send)
            self.waiting += 1
            try:
                await asyncio.wait_for(slots.acquire(), self.queue_timeout_s)
            except TimeoutError:
                return await self._busy(send)
            finally:
                self.waiting -= 1
        else:
            await slots.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()


class CompressWhenAccepted:
    """Starlette's gzip, for the clients that ask for it; the others skip its wrapper
    (which looked at every response of the hot nearest route to send it unchanged).

    Two levels: the page and its assets (cached by the browser for a year) at
    ``compresslevel``, where bytes matter most, on a phone's first load; the API's
    answers, made and compressed anew each time, at ``api_compresslevel``, where CPU
    does. Measured on a 466 km route (261 KB of GeoJSON): level 5 takes 5.6 ms for 78 KB,
    level 1 1.8 ms for 89 KB (bench/HISTORY.md, routing), which was the difference
    between meeting the long-route target through the API and missing it.
    """

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 1024,
        compresslevel: int = 5,
        api_compresslevel: int = 1,
        api_prefix: str = "/v1/",
    ) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)
        self.api_gzip = GZipMiddleware(
            app, minimum_size=minimum_size, compresslevel=api_compresslevel
        )
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "gzip" in (_header(scope, b"accept-encoding") or ""):
            if scope["path"].startswith(self.api_prefix):
                return await self.api_gzip(scope, receive, send)
            return await self.gzip(scope, receive, send)
        await self.app(scope, receive, send)


def install_guards(app: Starlette, settings: Settings) -> None:
    """Add the guards to ``app``, innermost first (each ``add_middleware`` wraps the last)."""
    app.add_middleware(RequestHygiene)
    app.add_middleware(PublicReadCors, origins=settings.cors_origins)
    app.add_middleware(HostCheck, settings=settings)
    app.add_middleware(
        Admission,
        limit=settings.max_concurrent_requests,
        max_waiting=settings.max_waiting_requests,
        queue_timeout_s=settings.queue_timeout_ms / 1000,
        retry_after_s=settings.retry_after_s,
    )
    # outside admission: a body is read (or refused) before its request takes a slot
    app.add_middleware(
        BodyGuard,
        limit=settings.max_body_bytes,
        timeout_s=settings.body_timeout_s,
        larger=((BULK_IMPORT_PATH, settings.max_import_bytes),),
        import_timeout_s=settings.import_body_timeout_s,
    )
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
