"""The file shape of an agency's points, both ways: what the export writes, the import
reads back. CSV (UTF-8, ``lat``/``lon`` columns), GeoJSON and GeoPackage (point
geometries), read into plain rows (``Table``) and written from them.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from locator.errors import InvalidInput

Format = Literal["csv", "geojson", "gpkg"]
FORMATS: tuple[Format, ...] = ("csv", "geojson", "gpkg")
MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
}
# what the export writes, in this order; the import reads the writable ones
COLUMNS = [
    "id", "external_ref", "agency", "kind", "name_th", "name_en", "lat", "lon",
    "address_th", "address_en", "tambon_code", "postcode", "phones", "opening_hours",
    "wheelchair", "priority_lane", "gecc", "status", "source", "version", "updated_at",
    "qa_flags", "synthetic",
]  # fmt: skip
# an import reads every column but source, updated_at, qa_flags and synthetic (exported
# for reading); ``id`` and ``version``, when given, must name the point as it is now
LIST_SEPARATOR = ";"  # phones, flags in flat files (a phone number holds no ';')


# --- reading a file -------------------------------------------------------------------
def detect_format(name: str | None = None, content_type: str | None = None) -> Format:
    """The format a file name's extension or a Content-Type names."""
    media = (content_type or "").split(";")[0].strip().lower()
    by_media = {"text/csv": "csv", "application/geo+json": "geojson",
                "application/json": "geojson",
                "application/geopackage+sqlite3": "gpkg"}  # fmt: skip
    if media in by_media:
        return by_media[media]  # type: ignore[return-value]
    suffix = Path(name or "").suffix.lower().lstrip(".")
    by_suffix = {"csv": "csv", "geojson": "geojson", "json": "geojson", "gpkg": "gpkg"}
    if suffix in by_suffix:
        return by_suffix[suffix]  # type: ignore[return-value]
    raise InvalidInput(
        "say which format the file is: a .csv, .geojson or .gpkg file name, or a "
        "Content-Type of text/csv, application/geo+json or application/geopackage+sqlite3"
        f" (got {content_type or 'none'!s} and {name or 'no name'})"
    )


@dataclass
class Table:
    """The rows of a file as plain values, with the columns it had."""

    columns: list[str]
    rows: list[dict[str, Any]]


# Reading is bounded by the row cap, not by the file: each reader stops at the first row
# past ``max_rows``, so a file of millions of tiny rows costs what ``max_rows`` rows cost
# (a CSV of 12 M rows took 2.4 GB and 31 s to be refused when the cap came after the whole
# parse). One row, a CSV record or a GeoJSON feature, is at most MAX_ROW_BYTES, so no single
# row can grow without bound either; an exported row is under 2 KB.
MAX_ROW_BYTES = 1 << 20
_CHUNK = 1 << 16
GPKG_CHECK_SECONDS = 5.0
"""How long the check of a GeoPackage's catalogue may take before GDAL opens it (it reads
SQLite's catalogue and ``gpkg_contents``, a few rows in any real file)."""


def too_many_rows(max_rows: int, name: str = "the file") -> InvalidInput:
    """The one refusal of a file over the row cap, whichever reader or door meets it."""
    return InvalidInput(
        f"{name} has more than {max_rows:,} rows (row {max_rows + 1:,} is one too many): at "
        f"most {max_rows:,} in one import; split the file",
        row=max_rows + 1,
        max_rows=max_rows,
    )


def read_file(
    source: bytes | BinaryIO, fmt: Format, name: str = "the file", *, max_rows: int | None = None
) -> Table:
    """The rows of a file, read as a stream: past ``max_rows`` rows it stops and refuses the
    file without reading the rest. A GeoPackage whose layer is not a plain table (a view,
    or a trigger beyond those GDAL writes) is refused before GDAL reads it."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    if fmt == "csv":
        return _read_csv(stream, name, max_rows)
    if fmt == "geojson":
        return _read_geojson(stream, name, max_rows)
    return _read_gpkg(stream, name, max_rows)


class _RecordLines:
    """The lines of a text stream for ``csv``, each read with a bounded ``readline`` and
    counted against the current record's MAX_ROW_BYTES (the reader calls ``next_record``
    after each row), so one endless line or an unclosed quote is refused, not buffered."""

    def __init__(self, text: io.TextIOWrapper, name: str) -> None:
        self.text, self.name, self.size, self.row = text, name, 0, 0

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(MAX_ROW_BYTES + 1)
        if not line:
            raise StopIteration
        self.size += len(line)
        if self.size > MAX_ROW_BYTES:
            where = f"row {self.row}" if self.row else "the header row"
            raise InvalidInput(
                f"{self.name}, {where}: longer than {MAX_ROW_BYTES >> 20} MiB (a quote left "
                "open, or no line breaks?); one row per line is expected",
                row=self.row,
            )
        return line

    def next_record(self) -> None:
        self.size = 0
        self.row += 1


def _read_csv(stream: BinaryIO, name: str, max_rows: int | None) -> Table:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    lines = _RecordLines(text, name)
    reader = csv.DictReader(lines)
    rows: list[dict[str, Any]] = []
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        lines.next_record()
        reader.fieldnames = columns
        for row in reader:
            if max_rows is not None and len(rows) >= max_rows:
                raise too_many_rows(max_rows, name)
            if None in row:  # more cells than the header has names
                raise InvalidInput(
                    f"{name}, row {len(rows) + 1}: more cells than the header's "
                    f"{len(columns)} columns (a comma inside a cell needs quotes)",
                    row=len(rows) + 1,
                )
            rows.append({k: _unguard(v) for k, v in row.items()})
            lines.next_record()
    except csv.Error as exc:  # a NUL byte, an unclosed quote at the end
        raise InvalidInput(f"{name}, row {len(rows) + 1}: not CSV ({exc})") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text: save it as CSV UTF-8") from None
    finally:
        text.detach()  # the caller's stream stays open
    if not columns:
        raise InvalidInput(f"{name} is empty: a header row and one row per point are expected")
    return Table(columns, rows)


MAX_JSON_DEPTH = 32
"""How deep a GeoJSON file may nest (a feature's pin is 4 levels down, a property list 5):
a parser that names each value's path does work squared in the depth (20,000 levels of
``[`` held 1 GB), so the depth is checked before the parser sees the bytes."""
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING = [0] * 256
for _open, _close in (b"[]", b"{}"):
    _NESTING[_open], _NESTING[_close] = 1, -1


class _JsonDepth:
    """The nesting depth of JSON text fed in chunks, at C speed: strings are cut out with
    one regular expression (an unfinished one is carried to the next chunk: it has no
    unescaped quote, so it is all that is left after the first quote remaining), then the
    brackets are summed."""

    def __init__(self) -> None:
        self.depth, self.carry = 0, b""

    def feed(self, chunk: bytes) -> int:
        """The deepest level reached so far in this chunk."""
        rest = _JSON_STRING.sub(b"", self.carry + chunk)
        cut = rest.find(b'"')
        self.carry, rest = (rest[cut:], rest[:cut]) if cut >= 0 else (b"", rest)
        levels = list(accumulate(map(_NESTING.__getitem__, rest.translate(None, _NOT_BRACKETS)),
                                 initial=self.depth))  # fmt: skip
        self.depth = levels[-1]
        return max(levels)


def _read_geojson(stream: BinaryIO, name: str, max_rows: int | None) -> Table:
    """Features one at a time from ijson's C parser, fed in chunks, so the file is never
    one document in memory; a second parser picks out the top-level ``type``, fed only
    until it has it (the first chunk, as every writer puts it first)."""
    import ijson  # type: ignore[import-untyped]

    features, kinds = ijson.sendable_list(), ijson.sendable_list()
    parsers = [
        ijson.items_coro(features, "features.item", use_float=True),
        ijson.items_coro(kinds, "type"),
    ]
    columns: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    since_feature, depth = 0, _JsonDepth()
    try:
        while chunk := stream.read(_CHUNK):
            if depth.feed(chunk) > MAX_JSON_DEPTH or len(depth.carry) > MAX_ROW_BYTES:
                raise InvalidInput(
                    f"{name}, feature {len(rows) + 1}: nested more than {MAX_JSON_DEPTH} "
                    "levels deep, or a text longer than 1 MiB; a feature is one pin and its "
                    "properties",
                    row=len(rows) + 1,
                )
            for parser in parsers:
                parser.send(chunk)
            if kinds and kinds[0] != "FeatureCollection":
                break
            del parsers[1 if kinds else 2 :]
            since_feature = 0 if features else since_feature + len(chunk)
            if since_feature > MAX_ROW_BYTES:
                raise InvalidInput(
                    f"{name}, feature {len(rows) + 1}: larger than {MAX_ROW_BYTES >> 20} MiB; "
                    "a feature is one pin and its properties",
                    row=len(rows) + 1,
                )
            for feature in features:
                if max_rows is not None and len(rows) >= max_rows:
                    raise too_many_rows(max_rows, name)
                rows.append(_feature_row(feature, name, len(rows) + 1))
                columns.update(dict.fromkeys(rows[-1]))
            del features[:]
        else:
            for parser in parsers:
                parser.close()
    except ijson.JSONError as exc:
        raise InvalidInput(f"{name} is not JSON: {exc}") from None
    if not kinds or kinds[0] != "FeatureCollection":
        raise InvalidInput(f"{name}: a GeoJSON FeatureCollection is expected")
    for feature in features:  # those completed by the end of the text
        if max_rows is not None and len(rows) >= max_rows:
            raise too_many_rows(max_rows, name)
        rows.append(_feature_row(feature, name, len(rows) + 1))
        columns.update(dict.fromkeys(rows[-1]))
    return Table(list(columns), rows)


def _feature_row(feature: Any, name: str, i: int) -> dict[str, Any]:
    if not isinstance(feature, dict):
        raise InvalidInput(f"{name}, feature {i}: not a GeoJSON Feature", row=i)
    props = dict(feature.get("properties") or {})
    geometry = feature.get("geometry")
    if geometry is not None:
        props["lon"], props["lat"] = _point_coordinates(geometry, name, i)
    return props


def _point_coordinates(geometry: Any, name: str, row: int) -> tuple[Any, Any]:
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Point"
        or not isinstance(coords, list)
        or len(coords) < 2
    ):
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise InvalidInput(f"{name}, feature {row}: a pin is a Point geometry, not {kind}", row=row)
    return coords[0], coords[1]


_SQLITE_HEADER = b"SQLite format 3\x00"
_RTREE_TRIGGER = re.compile(r"rtree_.+_(insert|delete|update\d)")  # rtree_<table>_<geom>_*


def _standard_trigger(name: str, table: str, layers: set[str]) -> bool:
    """A trigger GDAL writes into every GeoPackage: the spatial index's upkeep and the
    feature count on a layer, the specification's checks on its own ``gpkg_`` tables."""
    if name.startswith("gpkg_") and table.startswith("gpkg_"):
        return True
    if table not in layers:
        return False
    if name in (f"trigger_insert_feature_count_{table}", f"trigger_delete_feature_count_{table}"):
        return True
    return name.startswith(f"rtree_{table}_") and _RTREE_TRIGGER.fullmatch(name) is not None


def check_gpkg(path: Path, name: str = "the file") -> None:
    """Refuse a file GDAL must not be handed: not SQLite, no GeoPackage, a view anywhere, a
    layer that is a virtual table, a column computed as it is read (a generated column), or
    a trigger GDAL does not write. A view
    runs whatever SQL it holds when read (a recursive one never ends: 98 KB held an import
    at full CPU for minutes); a layer that is a table holds no more rows than the file.

    Read with SQLite itself, read-only and immutable, with the schema untrusted (no
    function in it runs), and every statement bounded in time by a progress handler."""
    with path.open("rb") as f:
        if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise InvalidInput(
                f"{name} is not a GeoPackage: not an SQLite database at all; export the "
                "layer as a GeoPackage (.gpkg) from your GIS"
            )
    deadline = time.monotonic() + GPKG_CHECK_SECONDS
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        db.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        db.execute("PRAGMA trusted_schema = OFF")
        catalogue = {
            row[1]: row for row in db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        }
        if catalogue.get("gpkg_contents", ("",))[0] != "table":
            raise InvalidInput(
                f"{name} is an SQLite database but no GeoPackage (it has no gpkg_contents "
                "table); export the layer as a GeoPackage from your GIS"
            )
        layers = {str(r[0]) for r in db.execute("SELECT table_name FROM gpkg_contents")}
        # a VIRTUAL generated column is computed as it is read (``zeroblob(300000000)``:
        # 300 MB a row); a STORED one is only what the file holds
        computed = [
            (table, str(column))
            for kind, table, _, sql in catalogue.values()
            if kind == "table" and not str(sql or "").upper().startswith("CREATE VIRTUAL")
            for column, hidden in db.execute(
                "SELECT name, hidden FROM pragma_table_xinfo(?)", (table,)
            )
            if hidden == 2
        ]
    except sqlite3.OperationalError as exc:
        said = "too slow to read" if "interrupt" in str(exc) else str(exc)
        raise InvalidInput(f"{name} could not be read as a GeoPackage: {said}") from None
    except sqlite3.DatabaseError as exc:  # not a database, malformed
        raise InvalidInput(f"{name} could not be read as a GeoPackage: {exc}") from None
    finally:
        db.close()
    # GDAL lists tables and views missing from gpkg_contents as layers too (its
    # LIST_ALL_TABLES=AUTO), so a view anywhere in the file is refused, not only a layer's
    for kind, view, _, _ in catalogue.values():
        if kind == "view":
            said = (
                f"the layer {view!r} is a view, not a table"
                if view in layers
                else f"it holds a view ({view!r}), which GDAL would read as a layer"
            )
            raise InvalidInput(
                f"{name}: {said}; export the layer as a table into a new GeoPackage (in "
                "QGIS: Export > Save Features As)",
                layer=view,
            )
    if computed:
        table, column = computed[0]
        raise InvalidInput(
            f"{name}: the column {column!r} of {table!r} is computed as it is read (a "
            "generated column); export the layer into a new GeoPackage, where it is a value",
            column=column,
        )
    for layer in sorted(layers):
        kind, _, _, sql = catalogue.get(layer, ("missing", layer, layer, ""))
        if kind == "table" and str(sql or "").upper().startswith("CREATE VIRTUAL"):
            raise InvalidInput(
                f"{name}: the layer {layer!r} is a virtual table; export it as a plain table",
                layer=layer,
            )
    for kind, trigger, table, _ in catalogue.values():
        if kind == "trigger" and not _standard_trigger(trigger, table, layers):
            raise InvalidInput(
                f"{name}: the trigger {trigger!r} on {table!r} is not one a GeoPackage "
                "writer adds; a file to import holds plain tables: export the layer again "
                "as a new GeoPackage",
                trigger=trigger,
            )


def _read_gpkg(stream: BinaryIO, name: str, max_rows: int | None) -> Table:
    import pyogrio  # type: ignore[import-untyped]

    with tempfile.NamedTemporaryFile(suffix=".gpkg") as tmp:
        shutil.copyfileobj(stream, tmp)
        tmp.flush()
        check_gpkg(Path(tmp.name), name)
        try:  # GDAL reads at most one row past the cap
            frame = pyogrio.read_dataframe(
                tmp.name, max_features=None if max_rows is None else max_rows + 1
            )
        except Exception as exc:  # GDAL's message, for a file that is no GeoPackage
            # GDAL names the file it opened: the server's temporary path, not the caller's
            said = str(exc).replace(tmp.name, name)
            raise InvalidInput(f"{name} could not be read as a GeoPackage: {said}") from None
    if max_rows is not None and len(frame) > max_rows:
        raise too_many_rows(max_rows, name)
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geometry = frame.geometry
    columns = [c for c in frame.columns if c != geometry.name]
    records = frame[columns].astype(object).where(frame[columns].notna(), None)
    rows = records.to_dict("records")
    for i, (row, geom) in enumerate(zip(rows, geometry, strict=True), 1):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type != "Point":
            raise InvalidInput(
                f"{name}, feature {i}: a pin is a Point geometry, not {geom.geom_type}", row=i
            )
        row["lon"], row["lat"] = geom.x, geom.y
    return Table([*columns, "lat", "lon"], [{str(k): v for k, v in r.items()} for r in rows])


# --- writing a file -------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
FORMULA_GUARD = "'"
"""Put before a CSV text cell a spreadsheet would run as a formula (``=HYPERLINK(...)``
in a name, ``+66 ...`` in a phone list), as OWASP advises; the import takes it off
again, so an export still reads back unchanged."""


def _guard(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return FORMULA_GUARD + value
    return value


def _unguard(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_GUARD) and value[1:2] in _FORMULA_START:
        return value[1:]
    return value


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["phones"] = LIST_SEPARATOR.join(row["phones"])
    out["qa_flags"] = LIST_SEPARATOR.join(row["qa_flags"])
    out["updated_at"] = row["updated_at"].isoformat()
    return out


def write_file(rows: Iterable[Mapping[str, Any]], fmt: Format) -> bytes:
    """The rows as a file of ``fmt``, in ``COLUMNS`` order."""
    rows = list(rows)
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _guard(v) for k, v in _flat(r).items()} for r in rows)
        return buffer.getvalue().encode("utf-8")
    if fmt == "geojson":
        features = [
            {"type": "Feature", "id": r["id"],
             "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
             "properties": {**{k: r[k] for k in COLUMNS if k not in ("lat", "lon")},
                            "synthetic": [f for f in r["synthetic"].split(",") if f]}}
            for r in rows
        ]  # fmt: skip
        doc = {"type": "FeatureCollection", "features": features}
        return orjson.dumps(doc, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
    return _write_gpkg(rows)


def _write_gpkg(rows: list[Mapping[str, Any]]) -> bytes:
    import geopandas as gpd
    import pandas as pd
    import shapely

    flat = [_flat(r) for r in rows]
    frame = pd.DataFrame(flat, columns=COLUMNS)
    points = shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lat", "lon"]), geometry=points, crs=4326)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.gpkg"
        gdf.to_file(path, layer="service_points", driver="GPKG", engine="pyogrio")
        return path.read_bytes()
