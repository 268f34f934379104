"""The file shape of an agency's points, both ways: what the export writes, the import
reads back. CSV (UTF-8, ``lat``/``lon`` columns), GeoJSON and GeoPackage (point
geometries), read into plain rows (``Table``) and written from them.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


def read_file(data: bytes, fmt: Format, name: str = "the file") -> Table:
    if fmt == "csv":
        return _read_csv(data, name)
    if fmt == "geojson":
        return _read_geojson(data, name)
    return _read_gpkg(data, name)


def _read_csv(data: bytes, name: str) -> Table:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text: save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(content, newline=""))
    rows: list[dict[str, Any]] = []
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        for row in reader:
            if None in row:  # more cells than the header has names
                raise InvalidInput(
                    f"{name}, row {len(rows) + 1}: more cells than the header's "
                    f"{len(columns)} columns (a comma inside a cell needs quotes)",
                    row=len(rows) + 1,
                )
            rows.append({k: _unguard(v) for k, v in row.items()})
    except csv.Error as exc:  # a NUL byte, an unclosed quote at the end
        raise InvalidInput(f"{name}, row {len(rows) + 1}: not CSV ({exc})") from None
    if not columns:
        raise InvalidInput(f"{name} is empty: a header row and one row per point are expected")
    return Table(columns, rows)


def _read_geojson(data: bytes, name: str) -> Table:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidInput(f"{name}: a GeoJSON FeatureCollection is expected")
    features = doc.get("features")
    if not isinstance(features, list):
        raise InvalidInput(f"{name}: its features are not a list")
    columns: dict[str, None] = {}
    rows = []
    for i, feature in enumerate(features, 1):
        if not isinstance(feature, dict):
            raise InvalidInput(f"{name}, feature {i}: not a GeoJSON Feature", row=i)
        props = dict(feature.get("properties") or {})
        geometry = feature.get("geometry")
        if geometry is not None:
            props["lon"], props["lat"] = _point_coordinates(geometry, name, i)
        columns.update(dict.fromkeys(props))
        rows.append(props)
    return Table(list(columns), rows)


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


def _read_gpkg(data: bytes, name: str) -> Table:
    import pyogrio  # type: ignore[import-untyped]

    with tempfile.NamedTemporaryFile(suffix=".gpkg") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            frame = pyogrio.read_dataframe(tmp.name)
        except Exception as exc:  # GDAL's message, for a file that is no GeoPackage
            # GDAL names the file it opened: the server's temporary path, not the caller's
            said = str(exc).replace(tmp.name, name)
            raise InvalidInput(f"{name} could not be read as a GeoPackage: {said}") from None
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
