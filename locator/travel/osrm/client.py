"""Calling the local routing engines: one keep-alive HTTP client per process, a timeout on
every call, and a fail-fast gate per engine, so an engine that is down or hung is a quick
``EngineUnavailable`` (503), never a hang.

A stopped engine refuses the connection at once; a hung one (stopped by a signal,
swapping, stuck) would hold each request for the whole ``osrm_timeout_s``, and a crowd
of citizens asking for routes would hold every worker thread. Behind the gate one
request per ``osrm_retry_s`` probes it; the rest get 503 on the spot.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from locator import metrics
from locator.errors import EngineUnavailable
from locator.failfast import Gate
from locator.settings import Settings
from locator.travel.modes import Mode
from locator.travel.osrm.engine import RoutingEngine
from locator.travel.places import Place

_GATES: dict[int, Gate] = {}
_POOLS: dict[tuple[int, float], urllib3.HTTPConnectionPool] = {}
_SHARED = threading.Lock()


def _gate(port: int, cooldown_s: float) -> Gate:
    """The engine's fail-fast gate: after a call timed out, one request per ``cooldown_s``
    probes it (a hung engine would hold every worker thread); the rest get 503 at once."""
    with _SHARED:
        return _GATES.setdefault(port, Gate(cooldown_s))


def _http(port: int, timeout_s: float) -> urllib3.HTTPConnectionPool:
    """One keep-alive pool per engine and process: a new TCP connection per engine call
    cost more than a local route takes to compute.

    urllib3 rather than httpx: on a local route (OSRM itself about 1.3 ms) httpx's own
    work per call was the larger part of what the API added to the engine's time
    (bench/HISTORY.md, routing, issue 20: 1.4 ms less per call, measured alternately on
    the same trips on a busy box). No retries: a call that fails is the engine's
    503, as before; a connection the engine closed while idle is noticed when it is
    taken from the pool and replaced."""
    with _SHARED:
        pool = _POOLS.get((port, timeout_s))
        if pool is None:
            pool = _POOLS[(port, timeout_s)] = urllib3.HTTPConnectionPool(
                "127.0.0.1", port, maxsize=16, block=False, timeout=timeout_s, retries=False
            )
        return pool


class OsrmClient:
    """Calls to the local engine, each with a timeout; an engine that is down or slow is
    ``EngineUnavailable`` (503), never a hang."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = RoutingEngine(settings)

    def get(self, mode: Mode, path: str, params: dict[str, str]) -> dict[str, Any]:
        port = self.engine.port(mode)
        gate = _gate(port, self.settings.osrm_retry_s)
        unavailable = EngineUnavailable(
            f"the {mode} routing engine does not answer; it may be starting or stopped",
            action="start_roads",
        )
        if not gate.admit():
            metrics.ROUTING_CALLS.labels(mode, "refused").inc()
            raise unavailable
        started = time.perf_counter()
        outcome = "ok"
        try:
            r = _http(port, self.settings.osrm_timeout_s).request(
                "GET", f"/{path}?{urlencode(params, safe=';,')}"
            )
            # orjson: a cross-country route is 200+ KB of GeoJSON, parsed in 1.4 ms
            # instead of the standard json module's 2.5 ms
            body: dict[str, Any] = orjson.loads(r.data)
        except urllib3.exceptions.NewConnectionError as exc:
            # refused at once (urllib3 counts it among connect timeouts): nothing to wait
            # for next time
            outcome = "refused"
            gate.settle(ok=True)
            raise unavailable from exc
        except urllib3.exceptions.TimeoutError as exc:
            outcome = "timeout"
            gate.settle(ok=False)
            raise unavailable from exc
        except (urllib3.exceptions.HTTPError, orjson.JSONDecodeError) as exc:
            outcome = "error"
            gate.settle(ok=True)  # refused at once: nothing to wait for next time
            raise unavailable from exc
        finally:
            metrics.ROUTING_CALLS.labels(mode, outcome).inc()
            metrics.ROUTING_SECONDS.labels(mode).observe(time.perf_counter() - started)
        gate.settle(ok=True)
        return body

    def snap_distance(self, mode: Mode, place: Place) -> float | None:
        body = self.get(mode, f"nearest/v1/{mode}/{place.lon},{place.lat}", {"number": "1"})
        if body.get("code") != "Ok" or not body.get("waypoints"):
            return None
        return float(body["waypoints"][0]["distance"])
