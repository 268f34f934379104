"""What is in the database: the numbers `locator status` prints and tests check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from locator import pincheck
from locator.migrate import current_revision, head_revision
from locator.models import Base


def describe_url(url: URL) -> str:
    """Where the database is, readably (a unix socket path is not URL-escaped)."""
    host = url.query.get("host") or url.host or "localhost"
    port = url.query.get("port") or url.port or 5432
    return f"database {url.database!r} as {url.username} on {host} (port {port})"


def collect_status(engine: Engine) -> dict[str, Any]:
    url = make_url(engine.url)
    with engine.connect() as conn:
        revision = current_revision(conn)
        out: dict[str, Any] = {
            "database": describe_url(url),
            "server": conn.execute(text("SHOW server_version")).scalar_one(),
            "postgis": conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
            if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
            else None,
            "revision": revision,
            "head": head_revision(),
            "tables": {},
        }
        if revision is None:
            return out
        for table in sorted(Base.metadata.tables):
            out["tables"][table] = conn.execute(
                text(f'SELECT count(*) FROM "{table}"')
            ).scalar_one()
        rows = conn.execute(
            text(
                "SELECT level, count(*), coalesce(sum(population), 0) "
                "FROM admin_area GROUP BY level"
            )
        ).all()
        out["areas"] = {level: {"count": n, "population": int(p)} for level, n, p in rows}
        out["registry"] = registry_stats(conn)
    return out


def registry_stats(conn: Connection | Session) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for kind, source, n in conn.execute(
        text("SELECT kind, source, count(*) FROM service_point GROUP BY 1, 2 ORDER BY 1, 2")
    ):
        by_kind.setdefault(kind, {})[source] = n
    by_source: dict[str, int] = dict(
        conn.execute(text("SELECT source, count(*) FROM service_point GROUP BY 1")).all()
    )
    by_province = {
        code: {"name_en": en, "name_th": th, "points": n}
        for code, en, th, n in conn.execute(
            text(
                "SELECT a.code, a.name_en, a.name_th, count(p.id) FROM admin_area a "
                "LEFT JOIN service_point p ON left(p.tambon_code, 2) = a.code "
                "WHERE a.level = 'province' GROUP BY 1, 2, 3 ORDER BY 1"
            )
        )
    }
    offerings, no_copy = conn.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE cardinality(copies_required) = 0) "
            "FROM offering"
        )
    ).one()
    total = sum(by_source.values())
    return {
        "points": total,
        "by_source": by_source,
        "by_kind": by_kind,
        "by_province": by_province,
        "offerings": offerings,
        "no_copy_offerings": no_copy,
        "no_copy_share": round(no_copy / offerings, 4) if offerings else None,
        "synthetic_share": round(by_source.get("generated", 0) / total, 4) if total else None,
        "qa": pincheck.counts(conn),
    }
