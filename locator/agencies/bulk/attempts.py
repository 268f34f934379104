"""The per-account limit on bulk import attempts (issue 20): one account posting hostile
files back to back kept about a core busy, each file parsed up to the row cap or refused
by the GeoPackage check, and pushed the citizens' p99 up six-fold.

Every attempt counts, dry runs and refused files too: that is what costs the server. The
attempts are rows in the database, not the process's memory, so the limit holds across
server processes and machines; they are counted, and the new one written, under a
transaction-scoped advisory lock on the account, so two simultaneous posts cannot both
slip under it (as the ratings' limits, ``locator.registry.ratings``). The route asks
before the file is read: a refused post costs its headers, not its upload. A process
that has refused an account remembers until when (``Refusals``) and refuses it again
without asking the database: an account posting back to back past its limit was two
transactions per refusal, more than the citizens' traffic beside it.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import RateLimited

WINDOW = dt.timedelta(hours=1)


def in_words(seconds: int) -> str:
    """A wait as a person says it: "40 seconds", "12 minutes"."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def _refusal(limit: int, retry: int) -> RateLimited:
    return RateLimited(
        f"at most {limit} bulk imports an hour per account (dry runs and refused files "
        f"count too); try again in {in_words(retry)}",
        retry_after_s=retry,
        limit=limit,
    )


def note_attempt(db: Executor, account_id: int, limit: int) -> None:
    """Count a new import attempt of ``account_id``, or refuse it (RateLimited, with when
    to try again) if it already made ``limit`` within the window. Attempts older than
    the window are deleted here, so the table holds at most ``limit`` rows per account.
    Runs in the caller's transaction."""
    window = f"{int(WINDOW.total_seconds())} seconds"
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"import:{account_id}"}
    )
    db.execute(
        text(
            "DELETE FROM import_attempt WHERE account_id = :id "
            "AND attempted_at <= now() - CAST(:window AS interval)"
        ),
        {"id": account_id, "window": window},
    )
    recent = (
        db.execute(
            text(
                "SELECT attempted_at FROM import_attempt WHERE account_id = :id "
                "ORDER BY attempted_at LIMIT :limit"
            ),
            {"id": account_id, "limit": limit},
        )
        .scalars()
        .all()
    )
    if len(recent) >= limit:
        now: dt.datetime = db.execute(text("SELECT now()")).scalar_one()
        retry = max(1, math.ceil((recent[0] + WINDOW - now).total_seconds()))
        raise _refusal(limit, retry)
    db.execute(text("INSERT INTO import_attempt (account_id) VALUES (:id)"), {"id": account_id})


class Refusals:
    """The accounts this process has refused, and until when (monotonic seconds): no
    attempt of theirs can be allowed before the oldest one counted leaves the window, so
    refusing from memory until then answers exactly what the database would."""

    def __init__(self) -> None:
        self._until: dict[int, float] = {}
        self._lock = threading.Lock()

    def check(self, account_id: int, limit: int) -> None:
        """RateLimited if ``account_id`` was refused and may not try again yet."""
        with self._lock:
            until = self._until.get(account_id)
            if until is None:
                return
            left = until - time.monotonic()
            if left <= 0:
                del self._until[account_id]
                return
        raise _refusal(limit, max(1, math.ceil(left)))

    def note_attempt(self, db: Executor, account_id: int, limit: int) -> None:
        """``note_attempt``, remembering a refusal."""
        self.check(account_id, limit)
        try:
            note_attempt(db, account_id, limit)
        except RateLimited as refused:
            with self._lock:
                if len(self._until) > 100_000:  # bounded whatever happens
                    self._until.clear()
                self._until[account_id] = time.monotonic() + refused.retry_after_s
            raise
