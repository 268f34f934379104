"""Hostile files at the bulk import, as an attacker (or a careless GIS) sends them over HTTP
and on the command line (issue 20, items 2 and 3): each is refused with a 422 that says
what to fix, after reading no more than the row cap, and a GeoPackage whose layer is not a
plain table is refused before GDAL reads it. The files come from tests/support/hostile_files.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from locator.agencies.bulk import formats
from locator.api import create_app
from locator.errors import InvalidInput
from locator.settings import get_settings
from tests.agencies.test_bulk import NEW, _auth, _csv, _export, _import
from tests.support import hostile_files
from tests.support.api import in_transaction
from tests.support.cli import LOCATOR

GPKG = "application/geopackage+sqlite3"
CAP = 50


@pytest.fixture
def dopa_50(connection) -> dict[str, str]:
    return _auth(connection, "dopa_50")


@pytest.fixture
def small_cap_client(db_url: str, session) -> Iterator[TestClient]:
    settings = get_settings().model_copy(update={"max_import_rows": CAP})
    with in_transaction(create_app(settings=settings, owner_url=db_url), session) as c:
        yield c


def _triggers(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        found = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    db.close()
    return found


def test_a_recursive_view_geopackage_is_refused_before_it_is_read(
    client, dopa_50, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """98 KB whose layer is a view counting for ever: GDAL would read it until the end of
    time (the one import slot held, every agency refused); it is a quick 422 instead."""
    path = hostile_files.recursive_view_gpkg(tmp_path / "forever.gpkg")
    assert path.stat().st_size < 200_000
    r = _import(client, dopa_50, "dopa_50", path.read_bytes(), GPKG)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "the layer 'forever' is a view" in error["message"]
    assert "export the layer as a table" in error["message"]
    assert error["details"]["layer"] == "forever"
    # the import slot is free again: the next import goes through
    assert _import(client, dopa_50, "dopa_50", _csv([NEW]), dry_run="true").status_code == 200
    cli = subprocess.run(
        [LOCATOR, "import", str(path), "--agency", "dopa_50", "--dry-run"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,  # a guard against the old hang, not a measurement
    )
    assert cli.returncode == 2, cli.stderr
    assert "is a view" in cli.stderr + cli.stdout


def _unregistered_view(path: Path) -> Path:
    return hostile_files.recursive_view_gpkg(path, registered=False)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_unregistered_view, "it holds a view ('forever'), which GDAL would read as a layer"),
        (hostile_files.trigger_gpkg, "the trigger 'surprise' on 'service_points' is not one"),
        (hostile_files.generated_column_gpkg, "the column 'big' of 'service_points' is computed"),
        (hostile_files.not_sqlite_gpkg, "not an SQLite database at all"),
    ],
)
def test_a_geopackage_that_is_no_plain_table_is_a_422_that_says_why(
    client, dopa_50, tmp_path: Path, make: Any, says: str
) -> None:
    path = make(tmp_path / "hostile.gpkg")
    r = _import(client, dopa_50, "dopa_50", path.read_bytes(), GPKG)
    assert r.status_code == 422, r.text
    assert says in r.json()["error"]["message"]


def test_a_geopackage_gdal_wrote_still_imports_with_its_own_triggers(
    client, dopa_50, tmp_path: Path
) -> None:
    """GDAL writes triggers of its own (the spatial index's upkeep, the feature count, the
    specification's checks): those are no reason to refuse, whichever GDAL wrote them."""
    exported = tmp_path / "export.gpkg"
    exported.write_bytes(_export(client, dopa_50, "dopa_50", "gpkg").content)
    rewritten = tmp_path / "ogr2ogr.gpkg"  # the system's GDAL, as a GIS user's would be
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(rewritten), str(exported)], check=True)
    for path in (exported, rewritten):
        triggers = _triggers(path)
        assert any(t.startswith("rtree_service_points_geom_") for t in triggers), triggers
        assert any(t.startswith("gpkg_tile_matrix_") for t in triggers), triggers
        r = _import(client, dopa_50, "dopa_50", path.read_bytes(), GPKG, dry_run="true")
        assert r.status_code == 200, r.text[:500]
        assert r.json()["rows"] > 1000 and r.json()["unchanged"] == r.json()["rows"]


def test_a_file_one_row_over_the_cap_is_refused_naming_the_cap_and_the_row(
    small_cap_client, dopa_50
) -> None:
    rows = [{**NEW, "external_ref": f"CAP-{i}"} for i in range(CAP + 1)]
    r = _import(small_cap_client, dopa_50, "dopa_50", _csv(rows))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert f"more than {CAP} rows (row {CAP + 1} is one too many)" in error["message"]
    assert error["details"] == {"row": CAP + 1, "max_rows": CAP}
    # the cap itself is no reason to refuse (the rows' own problems may be)
    r = _import(small_cap_client, dopa_50, "dopa_50", _csv(rows[:CAP]), dry_run="true")
    assert "one too many" not in r.text and r.json().get("rows", CAP) == CAP


@pytest.mark.parametrize(
    ("fmt", "make"),
    [("csv", hostile_files.tiny_rows_csv), ("geojson", hostile_files.tiny_features_geojson)],
)
def test_a_file_of_many_tiny_rows_is_refused_after_reading_about_the_cap(
    fmt: formats.Format, make: Any
) -> None:
    """The reader stops at the row past the cap: of a file of 2,000 times the cap's rows,
    it reads about the cap's share (the rest, however large, is never parsed nor held)."""
    data = make(CAP * 2000)
    stream = hostile_files.CountingReader(io.BytesIO(data))
    with pytest.raises(InvalidInput) as refused:
        formats.read_file(io.BufferedReader(stream), fmt, max_rows=CAP)  # type: ignore[arg-type]
    assert refused.value.details == {"row": CAP + 1, "max_rows": CAP}
    assert stream.consumed < len(data) / 10


def test_the_command_line_refuses_a_file_over_the_cap_without_reading_it_all(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    big = tmp_path / "tiny.csv"
    with big.open("wb") as out:
        hostile_files.tiny_rows_csv(3 * CAP, out)
    refused = subprocess.run(
        [LOCATOR, "import", str(big), "--agency", "dopa_50", "--dry-run"],
        env={**cli_env, "LOCATOR_MAX_IMPORT_ROWS": str(CAP)},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2, refused.stderr
    assert f"row {CAP + 1} is one too many" in refused.stderr + refused.stdout


def test_a_geojson_nested_without_end_is_a_422_not_a_parse(client, dopa_50) -> None:
    """A property of millions of nested lists: a streaming parser's work grows with the
    square of the depth, so the depth is bounded before it parses."""
    r = _import(
        client, dopa_50, "dopa_50", hostile_files.nested_geojson(1_000_000), "application/geo+json"
    )
    assert r.status_code == 422, r.text
    assert "nested more than" in r.json()["error"]["message"]
