"""What an operator sees of each request: its id and its metrics.

``Observe`` is the outermost middleware, so it sees every request, including the ones the
guards refuse (a busy 503, a bad Host): it gives the request an id, kept in
``locator.logs.REQUEST_ID`` for every log line written while it is handled and sent back
as ``X-Request-ID``, and counts the answer in ``locator.metrics`` by route template
(``/v1/points/{point_id}``, never the raw path: one series per route, whatever the
clients send) and status.

An incoming ``X-Request-ID`` (a proxy's or a client's, to follow one request through
several services) is kept when it is short and plain (``SANE_REQUEST_ID``); anything else
could forge or garble log lines, and is replaced by a fresh id.

Pure ASGI, like the guards: no extra task and body copy on the hot nearest route.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locator import metrics
from locator.api.guards import send_error
from locator.logs import REQUEST_ID, REQUEST_STARTED

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route answered: a 404, or a refusal before routing
CLIENT_LEFT = 499


def request_id(scope: Scope) -> str:
    """The incoming id when it is sane, else a fresh one."""
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            if SANE_REQUEST_ID.fullmatch(value):
                return bytes(value).decode("ascii")
            break
    return os.urandom(16).hex()  # uuid4's randomness, without building a UUID


def route_template(scope: Scope) -> str:
    """The template of the route that answered (set in the scope by the router)."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    return str(getattr(route, "path", UNMATCHED))


class Observe:
    """Request id and request metrics for every HTTP request (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # each label set's counter and histogram, looked up once (``labels()`` takes a
        # lock and builds a key every time; the label sets are few, see the module)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _count(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                metrics.HTTP_REQUESTS.labels(method, route, str(status)),
                metrics.HTTP_SECONDS.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = request_id(scope)
        # not reset afterwards: the request's task ends with it, and uvicorn's report of
        # an exception (written after the app returns) then still names the request
        REQUEST_ID.set(rid)
        REQUEST_STARTED.set(started)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # a bug: the answer is still the one error shape, and still names the request
            if not status:
                await send_error(send_with_id, 500, "internal", "internal error")
            raise
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            # no answer at all: the client left first (nginx's 499 for the same)
            self._count(
                method, route_template(scope), status or CLIENT_LEFT, time.perf_counter() - started
            )


@lru_cache(maxsize=8)
def _networks(
    allowed: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(a, strict=False) for a in allowed)


def address_allowed(host: str | None, allowed: Sequence[str]) -> bool:
    """Whether a client address is in one of the ``allowed`` networks (a name, or no
    address at all, never is)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(allowed)))
