"""A lean open-loop HTTP/1.1 load generator on asyncio + uvloop, for bench/load.py.

Why not an existing tool: on this box's Debian and PyPI, wrk, ab, siege and hey are
closed-loop (or rate-limit each closed-loop worker, which still waits for the previous
answer), h2load's ``--rate`` paces new connections rather than requests, locust runs
closed-loop users, and tsung (Erlang) paces session arrivals but records no scheduled
time per request; wrk2, vegeta, k6 and oha are not packaged there. So this is a small
client of our own, written to cost little CPU, because it shares the 2 cores with the
server and PostgreSQL it measures:

- requests are prepared as raw bytes before a phase starts, and answers are parsed by
  hand (status line, Content-Length or chunked framing; the body is decoded only for a
  201, whose id is kept, and for a 5xx, whose error code is kept); a request whose bytes
  depend on earlier answers (an agency write carries the ETag the client last saw) is
  built when it is sent, and may hand its answer's head and body to a hook;
- open loop: request ``i`` is due at ``start + i / rate`` and is sent then, whatever
  happened to the earlier ones; its latency is counted from that *scheduled* time, so
  time spent waiting for a connection or in the server's queue is included (no
  coordinated omission);
- a pool of keep-alive connections: a due request takes an idle one, else a new one is
  opened, up to a cap; beyond the cap the request is not sent and is recorded as
  ``backlog`` (the client could not keep up with the server's slowness), never queued
  out of sight;
- one timer sweep, not one timer per request, enforces the client timeout and closes
  connections idle long enough that the server may be closing them (uvicorn's
  keep-alive timeout is 5 s), so a reused connection is never a race.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

ERROR_KINDS = ("backlog", "connect_error", "conn_error", "timeout")
"""Outcomes that are no HTTP answer: no connection to be had under the cap, the connect
failed, the connection broke mid-request, or no answer within the client timeout."""

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")


class Record:
    """One request's fate. Times are ``loop.time()`` seconds; ``done`` is when the whole
    answer arrived (or the error happened)."""

    __slots__ = (
        "code",
        "ctx",
        "done",
        "error",
        "hook",
        "kind",
        "rating_id",
        "reply",
        "retry_after",
        "sched",
        "sent",
        "status",
        "waiter",
    )

    def __init__(self, kind: str, sched: float) -> None:
        self.kind = kind
        self.sched = sched
        self.sent = 0.0
        self.done = 0.0
        self.status = 0
        self.error: str | None = None
        self.code: str | None = None  # the error body's code, for 5xx answers
        self.retry_after = False
        self.rating_id: int | None = None  # the id a 201 returned
        self.waiter: asyncio.Future[None] | None = None
        self.ctx: Any = None  # what a built request wants to remember about itself
        # called once the request's fate is known (answer or error), with ``reply`` set
        # to the answer's lower-cased head and its body (None: no answer)
        self.hook: Callable[[Record], None] | None = None
        self.reply: tuple[bytes, bytes] | None = None

    @property
    def latency(self) -> float:
        """Seconds from the scheduled time to the end of the answer (queueing included)."""
        return self.done - self.sched


class _Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.rec: Record | None = None
        self.last_used = 0.0
        self.closed = False
        self._head_end = -1  # index of the blank line ending the headers, once found
        self._head = b""  # the headers, lower-cased
        self._status = 0
        self._length = -1  # body length, or -1 while unknown
        self._chunked = False
        self._close_after = False

    # --- asyncio callbacks ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._lost(self)

    def data_received(self, data: bytes) -> None:
        if self.rec is None:
            return  # nothing asked: a server closing notice, ignored
        buf = self.buf
        buf += data
        if self._head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head_end = end
            self._head = head = bytes(buf[:end]).lower()
            self._status = status = int(buf[9:12])
            self._close_after = b"\r\nconnection: close" in head
            if status in (204, 304) or status < 200:
                self._length = 0
            elif b"\r\ntransfer-encoding: chunked" in head:
                self._chunked = True
            else:
                m = _CONTENT_LENGTH.search(head)
                self._length = int(m.group(1)) if m else 0
            if status == 503 and b"\r\nretry-after:" in head:
                self.rec.retry_after = True
        start = self._head_end + 4
        if self._chunked:
            body = self._dechunk(start)
            if body is None:
                return
        else:
            if len(buf) - start < self._length:
                return
            body = bytes(buf[start : start + self._length])
        self._finish(body)

    # --- helpers --------------------------------------------------------------------
    def _dechunk(self, pos: int) -> bytes | None:
        """The whole chunked body, or None while it is incomplete."""
        buf, parts = self.buf, list[bytes]()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                return b"".join(parts) if buf.find(b"\r\n", pos) >= 0 else None
            if len(buf) < pos + size + 2:
                return None
            parts.append(bytes(buf[pos : pos + size]))
            pos += size + 2

    def _finish(self, body: bytes) -> None:
        rec = self.rec
        assert rec is not None
        status = self._status
        rec.status = status
        if status >= 500 or (status == 201 and rec.kind == "rating"):
            try:
                doc = orjson.loads(body)
                if status == 201:
                    rec.rating_id = int(doc["id"])
                else:
                    rec.code = str(doc["error"]["code"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                rec.code = rec.code or "unparsable"
        if rec.hook is not None:
            rec.reply = (self._head, body)
        self.buf.clear()
        self._head_end, self._length, self._chunked = -1, -1, False
        self.rec = None
        self.pool._complete(self, rec, reuse=not self._close_after)

    def send(self, rec: Record, raw: bytes, now: float) -> None:
        self.rec = rec
        rec.sent = now
        assert self.transport is not None
        self.transport.write(raw)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Keep-alive connections to one server, at most ``cap`` open at once."""

    def __init__(
        self,
        host: str,
        port: int,
        cap: int,
        timeout_s: float = 10.0,
        idle_s: float = 2.0,
        on_complete: Callable[[Record], None] | None = None,
    ) -> None:
        self.host, self.port, self.cap = host, port, cap
        self.timeout_s, self.idle_s = timeout_s, idle_s
        self.on_complete = on_complete
        self.loop = asyncio.get_running_loop()
        self.idle: deque[_Conn] = deque()  # most recently used on the right
        self.busy: set[_Conn] = set()
        self.opening = 0
        self.opened = 0  # connections opened in all
        self.peak = 0  # most connections open at once
        self._sweeper = self.loop.create_task(self._sweep())

    @property
    def open_count(self) -> int:
        return len(self.idle) + len(self.busy) + self.opening

    def fire(self, rec: Record, raw: bytes) -> None:
        """Send now on a free connection, or a new one; if the cap is reached, record a
        backlog. Never waits for an answer."""
        now = self.loop.time()
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self.busy.add(conn)
                conn.send(rec, raw, now)
                return
        if self.open_count >= self.cap:
            rec.error, rec.done = "backlog", now
            self._notify(rec)
            return
        self.opening += 1
        self.peak = max(self.peak, self.open_count)
        self.loop.create_task(self._open_and_send(rec, raw))

    async def _open_and_send(self, rec: Record, raw: bytes) -> None:
        rec.sent = self.loop.time()  # the connect counts towards the timeout
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: _Conn(self), self.host, self.port),
                self.timeout_s,
            )
        except (OSError, TimeoutError):
            self.opening -= 1
            rec.error, rec.done = "connect_error", self.loop.time()
            self._notify(rec)
            return
        self.opening -= 1
        self.opened += 1
        self.busy.add(conn)
        conn.send(rec, raw, rec.sent)

    def _complete(self, conn: _Conn, rec: Record, reuse: bool) -> None:
        now = self.loop.time()
        rec.done = now
        self.busy.discard(conn)
        if reuse and not conn.closed:
            conn.last_used = now
            self.idle.append(conn)
        else:
            conn.abort()
        self._notify(rec)

    def _lost(self, conn: _Conn) -> None:
        self.busy.discard(conn)
        rec = conn.rec
        if rec is not None:
            conn.rec = None
            rec.error, rec.done = "conn_error", self.loop.time()
            self._notify(rec)

    def _notify(self, rec: Record) -> None:
        if rec.hook is not None:
            try:
                rec.hook(rec)
            except Exception as exc:  # a bug there must not leave a closed-loop client waiting
                rec.code = f"hook failed: {exc!r}"
                print(f"note: a request hook failed: {exc!r}", flush=True)
        if self.on_complete is not None:
            self.on_complete(rec)
        if rec.waiter is not None and not rec.waiter.done():
            rec.waiter.set_result(None)

    async def _sweep(self) -> None:
        """Every 100 ms: time out overdue requests, close connections idle too long."""
        while True:
            await asyncio.sleep(0.1)
            now = self.loop.time()
            for conn in [c for c in self.busy if c.rec and now - c.rec.sent > self.timeout_s]:
                rec = conn.rec
                assert rec is not None
                conn.rec = None
                self.busy.discard(conn)
                conn.abort()
                rec.error, rec.done = "timeout", now
                self._notify(rec)
            idle = self.idle
            while idle and (idle[0].closed or now - idle[0].last_used > self.idle_s):
                idle.popleft().abort()

    async def drain(self, limit_s: float) -> None:
        """Wait until no request is outstanding (at most ``limit_s``)."""
        deadline = self.loop.time() + limit_s
        while (self.busy or self.opening) and self.loop.time() < deadline:
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self._sweeper.cancel()
        for conn in [*self.idle, *self.busy]:
            conn.abort()
        self.idle.clear()
        self.busy.clear()


@dataclass
class Request:
    """A prepared request: its kind (for the report) and its bytes on the wire; or, with
    ``build``, bytes made when it is sent (``build`` may set the record's kind, ``ctx``
    and ``hook``)."""

    kind: str
    raw: bytes
    build: Callable[[Record], bytes] | None = None

    def wire(self, rec: Record) -> bytes:
        return self.raw if self.build is None else self.build(rec)


async def open_loop(
    pool: Pool, requests: Sequence[Request], rate: float, start: float
) -> list[Record]:
    """Send ``requests[i]`` at ``start + i / rate``, never waiting for answers.

    One ``sleep`` per due time; when the loop falls behind (a burst of answers to parse)
    every request already due is sent at once, and its record keeps the scheduled time.
    """
    loop = asyncio.get_running_loop()
    records: list[Record] = []
    interval = 1.0 / rate
    for i, req in enumerate(requests):
        due = start + i * interval
        delay = due - loop.time()
        if delay > 0.0002:
            await asyncio.sleep(delay)
        rec = Record(req.kind, due)
        records.append(rec)
        pool.fire(rec, req.wire(rec))
    return records


async def closed_loop(
    pool: Pool, next_request: Callable[[], Request], connections: int, seconds: float
) -> list[Record]:
    """``connections`` clients, each sending its next request the moment the previous
    answer arrives, for ``seconds``: the throughput the server sustains."""
    loop = asyncio.get_running_loop()
    records: list[Record] = []
    end = loop.time() + seconds

    async def client() -> None:
        while loop.time() < end:
            req = next_request()
            rec = Record(req.kind, loop.time())
            rec.waiter = loop.create_future()
            records.append(rec)
            pool.fire(rec, req.wire(rec))
            await rec.waiter
            if rec.error == "connect_error":
                await asyncio.sleep(0.05)  # a server that is gone: do not spin

    await asyncio.gather(*(client() for _ in range(connections)))
    return records


async def lag_monitor(out: list[tuple[float, float]], interval: float = 0.01) -> None:
    """How late this event loop wakes up, every ``interval``: (time, lateness) pairs.

    The client's own stalls (its CPU share, a burst of answers to parse) delay sends and
    the reading of answers; this tells them apart from the server's."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        now = loop.time()
        out.append((now, now - due))


def get(host: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    """A GET request's bytes."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{extra}\r\n"
    ).encode()


def send_json(
    method: str, host: str, path: str, body: object, headers: dict[str, str] | None = None
) -> bytes:
    """A request's bytes with a JSON body (POST, PUT, PATCH)."""
    payload = orjson.dumps(body)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{extra}\r\n"
    ).encode() + payload


def post_json(host: str, path: str, body: object, headers: dict[str, str] | None = None) -> bytes:
    """A POST request's bytes with a JSON body."""
    return send_json("POST", host, path, body, headers)
