"""Files an attacker (or a careless GIS) posts to the bulk import, made on the spot, for the
tests and for ``bench/load.py``'s abuse phase alike (no pytest here).

Each is small to send and was, before issue 20, expensive to refuse: a GeoPackage whose
layer is a recursive SQLite view (98 KB that GDAL reads for ever), one whose layer has a
generated column of 300 MB a row, one with a trigger GDAL does not write, a file named
``.gpkg`` that is no SQLite at all, and CSV and GeoJSON files
of millions of tiny rows (24 MB of CSV held 2.4 GB while it was parsed whole). The import
accepts no compressed format (no zip, no XLSX), so there is no archive bomb to make.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import BinaryIO

LAYER = "service_points"


def plain_gpkg(path: Path, rows: int = 2) -> Path:
    """A GeoPackage as GDAL writes it (through pyogrio, as the export does): one layer of
    points, its spatial index and the triggers GDAL adds; a good file to import."""
    import geopandas as gpd
    import shapely

    names = [f"จุดบริการ {i}" for i in range(rows)]
    pins = [shapely.Point(98.98 + i * 1e-4, 18.79) for i in range(rows)]
    frame = gpd.GeoDataFrame({"name_th": names}, geometry=pins, crs=4326)
    frame.to_file(path, layer=LAYER, driver="GPKG", engine="pyogrio")
    return path


def recursive_view_gpkg(path: Path, rows: int | None = None, registered: bool = True) -> Path:
    """A GeoPackage whose one layer is a view counting with ``WITH RECURSIVE``: for ever
    (``rows=None``), or up to ``rows``. GDAL reads a view registered in ``gpkg_contents``
    as a layer like any table, and, with ``registered=False``, one that is not (it lists
    every table and view of a file whose ``gpkg_contents`` is empty); the file stays under
    100 KB whatever it yields."""
    plain_gpkg(path)
    stop = "" if rows is None else f" WHERE i < {int(rows)}"
    with _edit(path) as db:
        db.execute("DELETE FROM gpkg_contents")
        db.execute("DELETE FROM gpkg_geometry_columns")
        db.execute("DELETE FROM gpkg_ogr_contents")
        db.execute(f"DROP TABLE {LAYER}")
        db.execute(
            "CREATE VIEW forever AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
            f"SELECT i + 1 FROM n{stop}) SELECT i AS fid, CAST(NULL AS BLOB) AS geom, "
            "'x' || i AS name_th FROM n"
        )
        if not registered:
            return path
        db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
            "VALUES ('forever', 'features', 'forever', 4326)"
        )
        db.execute(
            "INSERT INTO gpkg_geometry_columns VALUES ('forever', 'geom', 'POINT', 4326, 0, 0)"
        )
    return path


def trigger_gpkg(path: Path) -> Path:
    """A GDAL GeoPackage plus a trigger of its own on the layer (SQL a writer would run)."""
    plain_gpkg(path)
    with _edit(path) as db:
        db.execute(
            f"CREATE TRIGGER surprise AFTER UPDATE ON {LAYER} BEGIN "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
            "SELECT count(*) FROM n; END"
        )
    return path


def generated_column_gpkg(path: Path, blob_bytes: int = 300_000_000) -> Path:
    """A GDAL GeoPackage whose layer has a VIRTUAL generated column of ``zeroblob``:
    computed as each row is read, 300 MB a row (3 rows held 1.6 GB)."""
    plain_gpkg(path)
    with _edit(path) as db:
        db.execute(
            f"ALTER TABLE {LAYER} ADD COLUMN big BLOB AS (zeroblob({int(blob_bytes)})) VIRTUAL"
        )
    return path


def not_sqlite_gpkg(path: Path) -> Path:
    """A zip archive named ``.gpkg``: the magic of a file that is no SQLite at all."""
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 4096)
    return path


class _edit:
    """An SQLite connection that commits and closes (sqlite3's own ``with`` only commits)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.db.commit()
        self.db.close()


def tiny_rows_csv(rows: int, out: BinaryIO | None = None) -> bytes:
    """A CSV of ``rows`` two-byte rows (``x``), header ``name_th``: 12 M rows are 24 MB.
    Written to ``out`` if given (then returns b""), else returned."""
    target = out if out is not None else io.BytesIO()
    target.write(b"name_th\n")
    block = b"x\n" * 65536
    whole, rest = divmod(rows, 65536)
    for _ in range(whole):
        target.write(block)
    target.write(b"x\n" * rest)
    return b"" if out is not None else target.getvalue()  # type: ignore[attr-defined]


def tiny_features_geojson(features: int, out: BinaryIO | None = None) -> bytes:
    """A GeoJSON FeatureCollection of ``features`` empty features (about 50 bytes each).
    Written to ``out`` if given (then returns b""), else returned."""
    target = out if out is not None else io.BytesIO()
    one = b'{"type":"Feature","properties":{},"geometry":null}'
    target.write(b'{"type":"FeatureCollection","features":[')
    if features:
        target.write(one)
    block = (b"," + one) * 4096
    whole, rest = divmod(max(features - 1, 0), 4096)
    for _ in range(whole):
        target.write(block)
    target.write((b"," + one) * rest)
    target.write(b"]}")
    return b"" if out is not None else target.getvalue()  # type: ignore[attr-defined]


def nested_geojson(depth: int) -> bytes:
    """One feature whose property nests ``depth`` arrays: a parser that builds it whole
    grows by a list per byte."""
    return (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,'
        b'"properties":{"deep":' + b"[" * depth + b"]" * depth + b"}}]}"
    )


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes its reader took: a reader that stops at the
    row cap leaves most of a large file unread."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner, self.consumed = inner, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)
