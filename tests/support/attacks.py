"""The slow and oversized clients of the outside probe (issue 20, items 1, 4 and 13), on raw
sockets: what no well-behaved HTTP library can be made to send.

Plain functions with no pytest in them, so the benchmarks (bench/load.py's attack mix)
and the tests replay the same attacks: a request line and headers that never end, a
header of megabytes, a body that stops after one byte, a URL with raw non-ASCII bytes or
too many of them. Each returns what the server did: an ``Answer`` (its status, headers
and body), or the open socket for the caller to hold and later see closed.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CRLF = b"\r\n"


@dataclass(frozen=True)
class Answer:
    """A response as read off the wire."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def connect(host: str, port: int, timeout_s: float = 10) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(method: str, path: str, host: str, headers: dict[str, str] | None = None) -> bytes:
    """A request line and headers, without the blank line that ends them."""
    lines = [f"{method} {path} HTTP/1.1".encode("latin-1"), f"Host: {host}".encode()]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in (headers or {}).items()]
    return CRLF.join(lines) + CRLF


def read_answer(sock: socket.socket, timeout_s: float = 10) -> Answer | None:
    """The response on ``sock``, or None if the server closed the connection (or reset
    it) without one. Waits at most ``timeout_s`` in all (TimeoutError past it)."""
    deadline = time.monotonic() + timeout_s
    data = b""
    try:
        while CRLF + CRLF not in data:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
    except ConnectionError:
        return None
    except TimeoutError:
        raise TimeoutError(f"no answer within {timeout_s:g} s") from None
    raw_head, _, body = data.partition(CRLF + CRLF)
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    try:
        while len(body) < length:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except (ConnectionError, TimeoutError):
        pass
    return Answer(int(status_line.split()[1]), headers, body)


def closed_by_server(sock: socket.socket, timeout_s: float) -> tuple[bool, Answer | None]:
    """Whether the server ends the connection within ``timeout_s`` (with or without an
    answer first), and the answer if there was one."""
    try:
        answer = read_answer(sock, timeout_s)
    except TimeoutError:
        return False, None
    if answer is None:
        return True, None
    try:  # after an answer: the connection must be closed too
        sock.settimeout(timeout_s)
        rest = sock.recv(1)
    except ConnectionError:
        rest = b""
    except TimeoutError:
        return False, answer
    return rest == b"", answer


def raw_request(host: str, port: int, data: bytes, timeout_s: float = 10) -> Answer | None:
    """Send ``data`` as it is on a fresh connection and read the answer."""
    with connect(host, port, timeout_s) as sock:
        sock.sendall(data)
        return read_answer(sock, timeout_s)


def unfinished_headers(
    host: str, port: int, path: str = "/healthz", pad_bytes: int = 0, chunk: int = 1 << 20
) -> socket.socket:
    """A connection that sent a request line and headers, one of them ``pad_bytes`` long,
    and never the blank line that would end them: the socket, for the caller to hold.
    A server without a header limit keeps every byte of it."""
    sock = connect(host, port)
    sock.sendall(head("GET", path, f"{host}:{port}"))
    if pad_bytes:
        sock.sendall(b"X-Pad: ")
        sent = 0
        try:
            while sent < pad_bytes:
                n = min(chunk, pad_bytes - sent)
                sock.sendall(b"a" * n)
                sent += n
        except (ConnectionError, TimeoutError):
            pass  # refused part way: what a bounded server does
    return sock


def slow_headers(
    host: str, port: int, path: str = "/healthz", every_s: float = 0.5, for_s: float = 5
) -> tuple[bool, float]:
    """A request whose headers come one short header every ``every_s`` seconds, for at
    most ``for_s``: whether the server closed the connection first, and when (seconds)."""
    sock = connect(host, port)
    start = time.monotonic()
    try:
        sock.sendall(head("GET", path, f"{host}:{port}"))
        i = 0
        while time.monotonic() - start < for_s:
            time.sleep(every_s)
            sock.sendall(f"X-Slow-{i}: a\r\n".encode())
            i += 1
        sock.sendall(CRLF)
        sock.settimeout(2)
        closed = sock.recv(1) == b""
        return closed, time.monotonic() - start
    except ConnectionError:
        return True, time.monotonic() - start
    except TimeoutError:
        return False, time.monotonic() - start
    finally:
        sock.close()


def slow_body(
    host: str,
    port: int,
    path: str,
    length: int = 64,
    sent: bytes = b"{",
    headers: dict[str, str] | None = None,
) -> socket.socket:
    """A POST whose headers promise ``length`` bytes of JSON and whose body stops after
    ``sent``: the socket, for the caller to hold open."""
    sock = connect(host, port)
    fields = {"Content-Type": "application/json", "Content-Length": str(length)}
    sock.sendall(head("POST", path, f"{host}:{port}", {**fields, **(headers or {})}) + CRLF)
    if sent:
        sock.sendall(sent)
    return sock


def huge_header(host: str, port: int, size: int, path: str = "/healthz") -> Answer | None:
    """A whole request with one header of ``size`` bytes; the answer, or None if the
    server closed the connection without one."""
    sock = connect(host, port, timeout_s=30)
    try:
        sock.sendall(head("GET", path, f"{host}:{port}") + b"X-Huge: ")
        try:
            sent = 0
            while sent < size:
                n = min(1 << 20, size - sent)
                sock.sendall(b"a" * n)
                sent += n
            sock.sendall(CRLF + CRLF)
        except ConnectionError:
            pass  # the server stopped reading: its answer may be waiting
        return read_answer(sock, 30)
    finally:
        sock.close()


def raw_url(host: str, port: int, target: bytes) -> Answer | None:
    """A GET of ``target`` exactly as given: raw non-ASCII bytes, or a very long URL."""
    return raw_request(
        host, port, b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
    )


@contextmanager
def held(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    """The attack's connections, closed when the block ends whatever happened."""
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()
