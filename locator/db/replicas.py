"""Read replicas: the public reads spread over hot standbys, the primary as the fallback.

Where a read goes:

- ``ReadRouting(work)`` (a public route's ``ReaderDep``): in turn to each replica in use;
  with none in use, or none configured, to the primary's read engine.
- ``ReadRouting.on_primary(work)``: reads that must see the latest writes. The API sends
  there every request that carries a key (an agency reading after its own write, and
  everything authenticated) and a citizen's requests for a short while after a rating of
  theirs (``locator.api.deps``: the read-your-writes cookie).
- Writes never come here: the write engine is the primary's.

How far behind a replica is, in the primary's clock. The usual recipe, ``now() -
pg_last_xact_replay_timestamp()`` on the replica, is the age of the last transaction it
replayed: on a primary with nothing to write (a quiet night) that grows without bound
while the replica is fully caught up, and every replica would be dropped for lagging.
Positions in the WAL do not have that flaw: each round the checker notes the primary's
``pg_current_wal_lsn()`` with the time, and a replica whose ``pg_last_wal_replay_lsn()``
has not reached a position the primary held at time t is at least now - t behind.
Caught up is 0 s however old the last write; under writes the figure is right to one
check interval. The bound is in seconds, not bytes, because seconds are what it
promises ("a new rating shows everywhere within N s"); a byte count means nothing
without a guess at the replay speed.

A replica that does not answer (connection refused or lost, its fail-fast gate shut),
is no standby any more (promoted), or lags past ``replica_max_lag_s`` is left out, and
asked again after ``replica_retry_s``. A read whose replica fails under it (the
connection lost mid-query: the replica stopped) or cancels it (a conflict with the
replay, SQLSTATE 40001) runs once more on the primary, so the client sees no error: a
read is a function of a connection (``work``) precisely so that it can run twice. A
statement timeout is not retried: the query would be as slow on the primary.

While the primary is down, replicas in use stay in use (with nothing written, none can
fall behind): the public reads keep being answered.

Each server process (uvicorn's workers share nothing) has its own routing and checker
thread: its own view of the replicas, one connection per replica and one to the primary
for the checks. The processes' views agree to within a check interval, which is all
that is needed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from locator.db.engine import Executor, make_read_engine
from locator.settings import Settings

T = TypeVar("T")
log = logging.getLogger("locator.db.replicas")

RECOVERY_CONFLICT = "40001"
"""The standby cancelled the query: its replay needed what the query was reading."""
LOST = ("57P01", "57P02", "57P03")
"""The server shut down (fast or crash) or is starting: the connection is gone."""


def lsn(value: str) -> int:
    """A WAL position (``16/B374D848``) as a number, to compare."""
    high, low = value.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def _lost(exc: DBAPIError) -> bool:
    """The connection failed, as opposed to the query (a timeout, a bad value)."""
    code = getattr(exc.orig, "pgcode", None)
    if exc.connection_invalidated or code in LOST or (code or "").startswith("08"):
        return True
    # psycopg2 gives no SQLSTATE only when the client itself lost the server
    return code is None and isinstance(exc.orig, psycopg2.OperationalError)


def _where(url: str) -> str:
    """A replica's address for the log: never its password."""
    parts = make_url(url)
    host = parts.query.get("host") or parts.host
    port = parts.port or parts.query.get("port")
    return f"{host}:{port}/{parts.database}"


@dataclass
class Replica:
    number: int
    where: str
    engine: Engine
    """The requests' pool: like the primary's read engine."""
    probe: Engine
    """One connection, for the checks only: a busy pool must not look like a dead server."""
    in_use: bool = False
    lag_s: float | None = None
    reason: str = "not checked yet"
    retry_at: float = 0.0
    reads: int = 0


class ReadRouting:
    """The public reads of one server process, over the primary and its replicas."""

    def __init__(self, primary: Engine, primary_url: str, settings: Settings) -> None:
        self.primary = primary
        self.settings = settings
        self.replicas = [
            Replica(
                number,
                _where(url),
                make_read_engine(url, settings, application_name="locator-api-replica"),
                make_read_engine(url, settings, pool_size=1, application_name="locator-check"),
            )
            for number, url in enumerate(settings.read_database_urls, start=1)
        ]
        self._primary_probe = (
            make_read_engine(primary_url, settings, pool_size=1, application_name="locator-check")
            if self.replicas
            else None
        )
        self._in_use: tuple[Replica, ...] = ()
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._history: deque[tuple[float, int]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.primary_reads = 0

    # -- the reads ---------------------------------------------------------------------
    def __call__(self, work: Callable[[Executor], T]) -> T:
        """A public read: on a replica in use, else (or should it fail) on the primary."""
        in_use = self._in_use
        if not in_use:
            return self.on_primary(work)
        replica = in_use[next(self._turn) % len(in_use)]
        try:
            conn = replica.engine.connect()
        except DBAPIError as exc:
            self._leave_out(replica, f"refused a connection ({type(exc.orig).__name__})")
            return self.on_primary(work)
        try:
            with conn:
                result = work(conn)
        except DBAPIError as exc:
            if _lost(exc):
                self._leave_out(replica, f"lost a connection ({type(exc.orig).__name__})")
            elif getattr(exc.orig, "pgcode", None) != RECOVERY_CONFLICT:
                raise
            return self.on_primary(work)
        with self._lock:
            replica.reads += 1
        return result

    def on_primary(self, work: Callable[[Executor], T]) -> T:
        """A read on the primary: one that must see the latest writes, or the fallback."""
        with self.primary.connect() as conn:
            result = work(conn)
        with self._lock:
            self.primary_reads += 1
        return result

    # -- the checks --------------------------------------------------------------------
    def start(self) -> None:
        """Check every replica now (the first requests go to the right places), then
        every ``replica_check_s`` in a thread of this process's own."""
        if not self.replicas:
            return
        self.check()
        self._thread = threading.Thread(target=self._run, name="replica-check", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.connect_timeout_s + 5)
        for replica in self.replicas:
            replica.engine.dispose()
            replica.probe.dispose()
        if self._primary_probe is not None:
            self._primary_probe.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.replica_check_s):
            try:
                self.check()
            except Exception:  # the checker must outlive any surprise; the log says what
                log.exception("checking the read replicas failed")

    def check(self) -> None:
        """One round: the primary's WAL position, then each replica due a check."""
        now = time.monotonic()
        self._sample_primary(now)
        for replica in self.replicas:
            if not replica.in_use and now < replica.retry_at:
                continue
            try:
                with replica.probe.connect() as conn:
                    recovering, replayed = conn.execute(
                        text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
                    ).one()
            except SQLAlchemyError as exc:
                cause = getattr(exc, "orig", None) or exc
                self._leave_out(replica, f"does not answer ({type(cause).__name__})")
                continue
            if not recovering:
                self._leave_out(replica, "is no standby (promoted?)")
            elif replayed is None:
                self._leave_out(replica, "has replayed nothing yet")
            else:
                replica.lag_s = self._lag(lsn(replayed), time.monotonic())
                if replica.lag_s > self.settings.replica_max_lag_s:
                    self._leave_out(replica, f"lags {replica.lag_s:.1f} s")
                else:
                    self._use(replica)

    def _sample_primary(self, now: float) -> None:
        """Note where the primary's WAL is now; keep the notes the lag bound needs."""
        assert self._primary_probe is not None
        try:
            with self._primary_probe.connect() as conn:
                position = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        except SQLAlchemyError as exc:
            log.debug("the primary's WAL position is unknown this round: %s", exc)
            return
        self._history.append((now, lsn(position)))
        horizon = now - self.settings.replica_max_lag_s - 2 * self.settings.replica_check_s
        while len(self._history) > 1 and self._history[0][0] < horizon:
            self._history.popleft()

    def _lag(self, replayed: int, now: float) -> float:
        """Seconds since the primary held a position the replica has not replayed (0:
        it has replayed everything the primary had at the last note)."""
        since = next((t for t, position in self._history if position > replayed), None)
        return 0.0 if since is None else max(0.0, now - since)

    def _leave_out(self, replica: Replica, reason: str) -> None:
        with self._lock:
            if replica.in_use or replica.reason != reason:
                log.warning(
                    "read replica %d (%s) left out: %s; asked again in %g s",
                    replica.number,
                    replica.where,
                    reason,
                    self.settings.replica_retry_s,
                )
            replica.in_use = False
            replica.reason = reason
            replica.retry_at = time.monotonic() + self.settings.replica_retry_s
            self._in_use = tuple(r for r in self.replicas if r.in_use)

    def _use(self, replica: Replica) -> None:
        with self._lock:
            if not replica.in_use:
                log.info("read replica %d (%s) in use", replica.number, replica.where)
            replica.in_use = True
            replica.reason = ""
            self._in_use = tuple(r for r in self.replicas if r.in_use)

    def state(self) -> dict[str, Any]:
        """What ``/readyz`` shows: each replica by number (never its address), whether in
        use, its lag at the last check, the reads it answered, and those of the primary."""
        with self._lock:
            return {
                "primary_reads": self.primary_reads,
                "replicas": [
                    {
                        "replica": r.number,
                        "in_use": r.in_use,
                        "lag_s": None if r.lag_s is None else round(r.lag_s, 3),
                        "reads": r.reads,
                        **({"left_out": r.reason} if not r.in_use else {}),
                    }
                    for r in self.replicas
                ],
            }
