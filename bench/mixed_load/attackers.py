"""The probe's slow clients as (h)'s attackers (issue 20 items 1 and 4): adapters that call
tests/support/attacks.py, the one home of the raw-socket attacks the tests replay, and
keep them going for the phase, each on ``connections`` connections at once. Each is an
``Attacker`` (bench/mixed_load/phases.py): a plain function of (host, port, seconds),
run in a thread, returning what the server did to it.

- slow bodies: ``POST /v1/points/{id}/ratings`` whose headers promise 64 bytes and whose
  body stops after one (the probe held every admission slot so for a minute);
- slow headers: a short header every half second, never ending in time;
- huge unfinished headers: 1 MiB of one header and no end (the probe held 458 MB so).

A connection the server answers or closes is counted by its answer and opened again a
second later (``REOPEN_S``), so the attack's pressure stays the same throughout.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support import attacks

NEAREST = "/v1/points/nearest?lat=13.7563&lon=100.5018&k=1"
REOPEN_S = 1.0
"""How long an attacker waits before opening again a connection the server dropped: the
probe's attacks hold connections; a flood of new ones is not what is measured here."""


def _point(host: str, port: int) -> int:
    answer = attacks.raw_request(host, port, attacks.head("GET", NEAREST, host) + attacks.CRLF)
    if answer is None or answer.status != 200:
        return 1  # the body never arrives: any point will do
    return int(json.loads(answer.body)["results"][0]["id"])


def _answer(sock: socket.socket) -> str:
    """What the server did to a connection it made readable: its status, or 'closed'."""
    try:
        answer = attacks.read_answer(sock, 2)
    except (TimeoutError, OSError):
        return "no answer"
    return "closed" if answer is None else str(answer.status)


def _hold(open_one: Callable[[], socket.socket], connections: int, seconds: float) -> Counter[str]:
    """``connections`` attacking connections held for ``seconds``: each one the server
    answers or closes is counted and replaced."""
    deadline = time.monotonic() + seconds
    seen: Counter[str] = Counter()
    held: list[socket.socket] = []

    def reopen() -> None:
        try:
            held.append(open_one())
            seen["opened"] += 1
        except OSError as e:
            seen[f"open failed: {type(e).__name__}"] += 1

    try:
        for _ in range(connections):
            reopen()
        while (left := deadline - time.monotonic()) > 0:
            if not held:
                time.sleep(min(left, 0.5))
                reopen()
                continue
            ready, _, _ = select.select(held, [], [], min(left, 0.5))
            for sock in ready:
                seen[_answer(sock)] += 1
                held.remove(sock)
                sock.close()
            if ready:  # held connections, not a connection flood (a proxy's or a firewall's
                time.sleep(REOPEN_S)  # concern); and the load generator's CPU is the same
            for _ in ready:
                reopen()
    finally:
        for sock in held:
            sock.close()
    return seen


def slow_bodies(connections: int = 20) -> Callable[[str, int, float], dict[str, Any]]:
    def slow_bodies(host: str, port: int, seconds: float) -> dict[str, Any]:
        path = f"/v1/points/{_point(host, port)}/ratings"
        return dict(_hold(lambda: attacks.slow_body(host, port, path), connections, seconds))

    return slow_bodies


def huge_headers(connections: int = 20) -> Callable[[str, int, float], dict[str, Any]]:
    def huge_headers(host: str, port: int, seconds: float) -> dict[str, Any]:
        def one() -> socket.socket:
            return attacks.unfinished_headers(host, port, pad_bytes=1 << 20)

        return dict(_hold(one, connections, seconds))

    return huge_headers


def slow_headers(connections: int = 20) -> Callable[[str, int, float], dict[str, Any]]:
    def slow_headers(host: str, port: int, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds

        def one_line() -> Counter[str]:
            seen: Counter[str] = Counter()
            while (left := deadline - time.monotonic()) > 1:
                with contextlib.suppress(OSError):
                    closed, _ = attacks.slow_headers(host, port, every_s=0.5, for_s=left)
                    seen["closed by the server" if closed else "held to the end"] += 1
            return seen

        with ThreadPoolExecutor(connections) as pool:
            counts = list(pool.map(lambda _: one_line(), range(connections)))
        return dict(sum(counts, Counter()))

    return slow_headers


SLOW_CLIENTS = {"slow-bodies": slow_bodies, "slow-headers": slow_headers,
                "huge-headers": huge_headers}  # fmt: skip
"""The slow-client attacks ``bench.load --slow-clients`` chooses from, by name."""
