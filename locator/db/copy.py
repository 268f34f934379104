"""Bulk writes through PostgreSQL COPY: the one way this project loads many rows.

Row-by-row INSERTs of 60,000 points and their offerings take minutes; COPY takes seconds.
Geometries travel as hex EWKB, which both ``geometry`` and ``geography`` columns accept.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import geopandas as gpd
import pandas as pd
import psycopg2.extensions
import shapely
from sqlalchemy import Connection, text


def to_hex_ewkb(geoms: gpd.GeoSeries, srid: int = 4326) -> pd.Series:
    values = shapely.set_srid(geoms.to_numpy(), srid)
    return pd.Series(shapely.to_wkb(values, hex=True, include_srid=True), index=geoms.index)


def _pg_array(values: Iterable[object] | None) -> str | None:
    """A Python list as a PostgreSQL array literal (for text[] columns)."""
    if values is None:
        return None
    items = list(values)
    escaped = ['"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items]
    return "{" + ",".join(escaped) + "}"


def copy_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    array_columns: Sequence[str] = (),
    geometry_columns: Sequence[str] = (),
) -> int:
    """COPY ``frame[columns]`` into ``table`` inside the caller's transaction."""
    out = pd.DataFrame({col: frame[col] for col in columns}, index=frame.index)
    for col in geometry_columns:
        out[col] = to_hex_ewkb(gpd.GeoSeries(frame[col], crs=4326))
    for col in array_columns:
        out[col] = out[col].map(_pg_array)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    cols = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with cast(psycopg2.extensions.cursor, raw.cursor()) as cur:
        cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
    return len(out)


@contextmanager
def bulk_load(conn: Connection, tables: Sequence[str]) -> Iterator[None]:
    """Load many rows fast: secondary indexes are rebuilt once at the end, not per row,
    and user triggers are off while the loader itself fills what they would.

    Constraint indexes (primary keys, unique) stay, so integrity is still checked. All of
    this happens inside the caller's transaction: on failure everything rolls back,
    indexes and triggers included.
    """
    saved: list[str] = []
    for table in tables:
        rows = conn.execute(
            text(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            ),
            {"t": table},
        ).all()
        for name, definition in rows:
            conn.execute(text(f"DROP INDEX {name}"))
            saved.append(definition)
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    yield
    for table in tables:
        conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    for definition in saved:
        conn.execute(text(definition))
