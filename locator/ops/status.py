"""What is in the database: where it is, its schema revision, rows per table and the
administrative areas (`locator status`; what the registry holds is ``locator.analysis.stats``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from locator.db.migrate import current_revision, head_revision
from locator.registry.models import Base


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
    return out
