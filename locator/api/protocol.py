"""uvicorn's HTTP/1.1 protocol (httptools) with the limits it lacks on a request's head.

uvicorn bounds neither the size of a request line and headers nor the time they take to
arrive: the probe (issue 20, item 4) had one 50 MB header read and answered, and 20
connections holding 20 MB unfinished headers held 458 MB. None of its options helps:
``h11_max_incomplete_event_size`` bounds the size with the h11 parser only (it has no
time limit either), ``timeout_keep_alive`` runs only between requests, and
``limit_concurrency`` counts connections. So this subclass adds, per connection:

- ``max_header_bytes``: a head that grows past it is a 431 and the connection closed,
  as soon as the bytes arrive (an unfinished head is never held beyond it);
- ``max_url_bytes``: a longer URL is a 414; raw non-ASCII bytes in it are a 400 that says
  to percent-encode them (both were uvicorn's plain-text "Invalid HTTP request", as is
  any other malformed request, now in the one error shape too);
- ``header_timeout_s``: from the connection's first byte, or a request's, the head must
  be complete within it, else a 408 and the connection closed (a silent connection is
  closed too: it holds a socket and a protocol object).

Each refusal is the one error shape (``locator.api.errors``), like the app's.

Measured (issue 20): twenty connections each sending a 20 MB header that never ends
added 406 MiB to the server before and nothing now (each is a 431 at 32 KiB); a 50 MB
header was read for 8 s and answered 200, now a 431 at once.

Cost on the hot path: the protocol alone, driven in-process with a trivial app (median
of 7 rounds of 20,000 requests, CPU time), takes 17.2 us a request against httptools'
15.2 us: 2 us, about 0.1 % of a nearest request (2 ms of CPU) and 1 % of /healthz.
(wrk on this shared 2-core box, 16 connections, medians of 3 interleaved rounds: /healthz
4,260 against 3,500 requests/s and nearest 471 against 464 in one session, 2,231 against
2,161 and 327 against 310 in another: within the noise.) h11, uvicorn's other parser, is
pure Python, and bounds the size of a head but not its time.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from locator.api.errors import error_body
from locator.settings import get_settings


class _Refused(Exception):
    """Raised in a parser callback: httptools stops parsing and uvicorn answers with
    ``send_400_response``, which sends the refusal recorded before."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with bounds on the head's bytes and time (see the module)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # the process-wide settings: the class is named to uvicorn by its import path, so
        # every worker process makes its own from the same environment
        settings = get_settings()
        self.max_head = settings.max_header_bytes
        self.max_url = settings.max_url_bytes
        self.head_timeout_s = settings.header_timeout_s
        self.head_open = True  # the next bytes belong to a request's head
        self.head_bytes = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.refusal: tuple[int, str, str, dict[str, Any]] | None = None

    # --- the clock on the head ------------------------------------------------------
    def _arm(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.head_open and not self.transport.is_closing():
            self._refuse(
                408,
                "header_timeout",
                f"the request line and headers did not arrive within "
                f"{self.head_timeout_s:g} s; send them at once",
                {"timeout_s": self.head_timeout_s},
            )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- the size of the head ---------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.head_open:
            self.head_bytes += len(data)
            if self.head_timer is None:  # a request's first bytes: its head's clock starts
                self._arm()
        super().data_received(data)
        if self.head_open and self.head_bytes > self.max_head and not self.transport.is_closing():
            self._refuse(*self._too_large())

    def _too_large(self) -> tuple[int, str, str, dict[str, Any]]:
        return (
            431,
            "headers_too_large",
            f"the request line and headers are larger than {self.max_head:,} bytes; "
            "send fewer or shorter headers",
            {"max_bytes": self.max_head},
        )

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url:
            self._fail(
                414,
                "url_too_long",
                f"the URL is longer than {self.max_url:,} bytes; send fewer or shorter "
                "query parameters",
                {"max_bytes": self.max_url},
            )

    def on_headers_complete(self) -> None:
        # a head that arrived whole in one read (with some body, perhaps) was not checked
        # yet: its exact size, only when the bytes read could be too many
        if self.head_bytes > self.max_head and (
            len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers) > self.max_head
        ):
            self._fail(*self._too_large())
        self.head_open, self.head_bytes = False, 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.head_open = True

    # --- refusals ---------------------------------------------------------------------
    def _fail(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        self.refusal = (status, code, message, details)
        raise _Refused(message)

    def send_400_response(self, msg: str) -> None:
        # called by uvicorn while it handles the parser's error: that error says which
        if self.refusal is None and isinstance(
            sys.exception(), httptools.HttpParserInvalidURLError
        ):
            self.refusal = (
                400,
                "invalid_url",
                "the URL holds a character that must be percent-encoded (raw non-ASCII "
                "bytes, a space, a control character); percent-encode it as UTF-8 (ก is "
                "%E0%B8%81), as a browser or an HTTP library does",
                {},
            )
        status, code, message, details = self.refusal or (
            400,
            "invalid_request",
            f"not a valid HTTP/1.1 request ({msg.rstrip('.')}); check the request line and headers",
            {},
        )
        self._refuse(status, code, message, details)

    def _refuse(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        """Answer in the one error shape and close the connection; a request still being
        answered on it is not interrupted by a second answer, only by the close."""
        self.refusal = None
        self._disarm()
        if self.cycle is None or self.cycle.response_complete:
            body = orjson.dumps(error_body(code, message, details))
            head = [STATUS_LINE[status]]
            head += [
                name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
            ]
            head.append(
                b"content-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n" % len(body)
            )
            self.transport.write(b"".join(head) + body)
        self.transport.close()
