"""Citizens rate a service point after a visit; abuse-limited per client per point per
day, and per client per day over all points.

Clients are identified by a keyed hash of their address (the raw IP is never stored).
The limits are checked and the rating written under a transaction-scoped advisory lock
on the client, so two simultaneous posts cannot both slip under them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import unicodedata
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.db.engine import Executor
from locator.errors import InvalidInput, NotFound, RateLimited
from locator.secrets import client_hash_key
from locator.settings import Settings

WINDOW = dt.timedelta(days=1)


def client_hash(client: str, key: str) -> str:
    return hmac.new(key.encode(), client.encode(), hashlib.sha256).hexdigest()


def clean_comment(comment: str | None, max_length: int) -> str | None:
    """Plain text only: control characters go, whitespace is trimmed; never HTML-decoded."""
    if comment is None:
        return None
    cleaned = "".join(
        ch for ch in comment if ch in "\n\t" or unicodedata.category(ch)[0] != "C"
    ).strip()
    if len(cleaned) > max_length:
        raise InvalidInput(
            f"comment: at most {max_length} characters (got {len(cleaned)})",
            parameter="comment",
        )
    return cleaned or None


def _within_limit(session: Session, who: str, point_id: int | None, limit: int, what: str) -> None:
    """At most ``limit`` ratings from one client within the window, at one point or (no
    ``point_id``) over all points. The indexes on (point, client, time) and (client,
    time), and the limit itself, bound the read to ``limit`` rows."""
    at_point = "" if point_id is None else "AND point_id = :id "
    recent = (
        session.execute(
            text(
                f"SELECT created_at FROM rating WHERE client_hash = :who {at_point}"
                "AND created_at > now() - CAST(:window AS interval) "
                "ORDER BY created_at LIMIT :limit"
            ),
            {
                "who": who,
                "id": point_id,
                "limit": limit,
                "window": f"{int(WINDOW.total_seconds())} seconds",
            },
        )
        .scalars()
        .all()
    )
    if len(recent) >= limit:
        now: dt.datetime = session.execute(text("SELECT now()")).scalar_one()
        retry = max(1, math.ceil((recent[0] + WINDOW - now).total_seconds()))
        raise RateLimited(
            f"at most {limit} ratings {what}; try again in {retry} seconds",
            retry_after_s=retry,
        )


def add_rating(
    session: Session,
    point_id: int,
    score: int,
    comment: str | None,
    service: str | None,
    client: str,
    settings: Settings,
) -> dict[str, Any]:
    if not 1 <= score <= 5:
        raise InvalidInput("score: give a whole number from 1 to 5", parameter="score")
    comment = clean_comment(comment, settings.max_rating_comment)
    exists = session.execute(
        text("SELECT 1 FROM service_point WHERE id = :id"), {"id": point_id}
    ).first()
    if not exists:
        raise NotFound(f"no service point with id {point_id}")
    if service is not None:
        offered = session.execute(
            text("SELECT 1 FROM offering WHERE point_id = :id AND service_code = :s"),
            {"id": point_id, "s": service},
        ).first()
        if not offered:
            raise InvalidInput(
                f"service: {service!r} is not offered at point {point_id}; "
                "its detail lists the services it offers",
                parameter="service",
            )
    who = client_hash(client, client_hash_key(settings))
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"rating:{who}"},
    )
    _within_limit(
        session,
        who,
        None,
        settings.ratings_per_client_per_day,
        "a day from one client, over all points",
    )
    _within_limit(
        session, who, point_id, settings.ratings_per_client_per_point_per_day,
        "per point per day from one client",
    )  # fmt: skip
    row = session.execute(
        text(
            "INSERT INTO rating (point_id, service_code, score, comment, client_hash) "
            "VALUES (:id, :service, :score, :comment, :who) RETURNING id, created_at"
        ),
        {"id": point_id, "service": service, "score": score, "comment": comment, "who": who},
    ).one()
    return {
        "id": row.id,
        "point_id": point_id,
        "service": service,
        "score": score,
        "comment": comment,
        "created_at": row.created_at,
        "summary": rating_summary(session, point_id),
    }


def rating_summary(db: Executor, point_id: int, recent: int = 5) -> dict[str, Any]:
    row = db.execute(
        text(
            "SELECT count(*) AS n, avg(score) AS average, "
            "count(*) FILTER (WHERE score = 1) AS s1, count(*) FILTER (WHERE score = 2) AS s2, "
            "count(*) FILTER (WHERE score = 3) AS s3, count(*) FILTER (WHERE score = 4) AS s4, "
            "count(*) FILTER (WHERE score = 5) AS s5 FROM rating WHERE point_id = :id"
        ),
        {"id": point_id},
    ).one()
    latest = db.execute(
        text(
            "SELECT score, comment, service_code AS service, created_at FROM rating "
            "WHERE point_id = :id ORDER BY created_at DESC, id DESC LIMIT :n"
        ),
        {"id": point_id, "n": recent},
    ).all()
    return {
        "count": row.n,
        "average": None if row.average is None else round(float(row.average), 2),
        "by_score": {str(i): getattr(row, f"s{i}") for i in range(1, 6)},
        "recent": [dict(r._mapping) for r in latest],
    }
