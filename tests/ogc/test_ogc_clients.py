"""Real GIS clients against a real server: OWSLib's OGC API Features client, and GDAL's
OAPIF driver turning an OGR ``-where`` into a server-side CQL2 filter.

Both run against ``live_server`` (``locator serve`` over the session's database), as a
GIS user's machine would.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyogrio
import pytest
from owslib.ogcapi.features import Features
from sqlalchemy import Engine, text

COLLECTION = "service_points"
OGR2OGR = shutil.which("ogr2ogr") or "/usr/bin/ogr2ogr"
CQL_TEXT = "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text"


def _count(engine: Engine, where: str) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(
            text(f"SELECT count(*) FROM service_point p WHERE status = 'active' AND {where}")
        ).scalar_one()
    return count


@pytest.fixture
def owslib(live_server: str, monkeypatch: pytest.MonkeyPatch) -> Features:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return Features(live_server)


# --- OWSLib --------------------------------------------------------------------------------
def test_owslib_reads_the_landing_page_and_conformance(owslib: Features) -> None:
    """OWSLib sends ``Accept: */*``; it must get the JSON landing page, not the map."""
    rels = {link["rel"] for link in owslib.links}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    classes = owslib.conformance()["conformsTo"]
    assert CQL_TEXT in classes
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter" in classes


def test_owslib_reads_the_collection_and_its_queryables(owslib: Features) -> None:
    assert owslib.feature_collections() == [COLLECTION]
    collection = owslib.collection(COLLECTION)
    assert collection["id"] == COLLECTION and collection["itemType"] == "feature"
    queryables = owslib.collection_queryables(COLLECTION)
    assert queryables["type"] == "object"
    assert {"name_en", "kind", "wheelchair", "geometry"} <= set(queryables["properties"])


def test_owslib_pages_through_a_filtered_box(owslib: Features, engine: Engine) -> None:
    """Items with a bbox and a CQL2 filter, a page at a time by offset: every point
    once, the count the SQL gives."""
    bbox = [100.3, 13.5, 100.9, 14.0]
    cql = "kind IN ('police_station', 'post_office', 'district_office') OR gecc = true"
    expected = _count(
        engine,
        "ST_X(geog::geometry) BETWEEN 100.3 AND 100.9 "
        "AND ST_Y(geog::geometry) BETWEEN 13.5 AND 14.0 "
        "AND (kind IN ('police_station', 'post_office', 'district_office') OR gecc)",
    )
    assert expected > 30
    ids: list[int] = []
    offset = 0
    while True:
        page = owslib.collection_items(
            COLLECTION,
            bbox=bbox,
            limit=13,
            offset=offset,
            filter=cql,
            **{"filter-lang": "cql2-text"},
        )
        assert page["numberMatched"] == expected
        ids += [feature["id"] for feature in page["features"]]
        offset += 13
        if offset >= expected:
            break
    assert len(ids) == len(set(ids)) == expected
    for feature in page["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert 100.3 <= lon <= 100.9 and 13.5 <= lat <= 14.0


def test_owslib_sorts_and_chooses_properties(owslib: Features) -> None:
    page = owslib.collection_items(
        COLLECTION,
        limit=20,
        sortby=("name_en", "desc"),
        properties="name_en",
        filter="kind = 'land_office'",
    )
    names = [feature["properties"]["name_en"] for feature in page["features"]]
    assert names == sorted(names, reverse=True) and len(names) == 20
    assert all(set(feature["properties"]) == {"name_en"} for feature in page["features"])


def test_owslib_sees_a_bad_filter_refused(owslib: Features) -> None:
    with pytest.raises(RuntimeError, match="unknown property colour"):
        owslib.collection_items(COLLECTION, filter="colour = 'red'")


# --- GDAL's OAPIF driver -------------------------------------------------------------------
def _ogr2ogr(out: Path, live_server: str, *args: str) -> list[str]:
    """Run ogr2ogr with GDAL's debug output on; return the item URLs it fetched."""
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env["GDAL_HTTP_TIMEOUT"] = "60"
    command = [OGR2OGR, "--debug", "on", "-f", "GPKG", str(out), f"OAPIF:{live_server}"]
    result = subprocess.run(
        [*command, COLLECTION, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    fetched = re.findall(r"HTTP: Fetch\((\S+/items\S*)\)", result.stderr)
    assert fetched, result.stderr[-3000:]
    return fetched


@pytest.mark.skipif(not Path(OGR2OGR).exists(), reason="GDAL's ogr2ogr is not installed")
def test_gdal_sends_a_where_as_a_server_side_filter(
    live_server: str, engine: Engine, tmp_path: Path
) -> None:
    """GDAL reads ``filter-lang`` from the OpenAPI document and sends the -where as a
    filter: every page it fetches carries it, and there are only as many pages as the
    matching points need (filtering 60,000 points on the client would take 60)."""
    where = "(kind = 'police_station' OR kind = 'post_office') AND wheelchair = 1"
    expected = _count(engine, "kind IN ('police_station', 'post_office') AND wheelchair")
    assert 1000 < expected < 3000
    out = tmp_path / "filtered.gpkg"
    fetched = _ogr2ogr(out, live_server, "-where", where, "-oo", "PAGE_SIZE=1000")

    filtered = [parse_qs(urlsplit(url).query) for url in fetched if "filter=" in url]
    assert len(filtered) == math.ceil(expected / 1000), fetched
    for query in filtered:
        assert query["filter-lang"] == ["cql-text"]
        assert "wheelchair = 1" in query["filter"][0]
        assert "kind = 'police_station'" in query["filter"][0]
    # the one request without the filter is the first page GDAL reads to learn the schema
    assert len(fetched) - len(filtered) <= 1, fetched
    assert pyogrio.read_info(out)["features"] == expected


@pytest.mark.skipif(not Path(OGR2OGR).exists(), reason="GDAL's ogr2ogr is not installed")
def test_gdal_exports_a_filtered_box(live_server: str, engine: Engine, tmp_path: Path) -> None:
    """-spat becomes bbox=, the -where a filter, both on the server."""
    expected = _count(
        engine,
        "ST_X(geog::geometry) BETWEEN 100.3 AND 100.9 "
        "AND ST_Y(geog::geometry) BETWEEN 13.5 AND 14.0 AND NOT gecc",
    )
    out = tmp_path / "box.gpkg"
    fetched = _ogr2ogr(
        out,
        live_server,
        *("-spat", "100.3", "13.5", "100.9", "14.0"),
        *("-where", "gecc = 0", "-oo", "PAGE_SIZE=500"),
    )
    pages: list[dict[str, Any]] = [
        parse_qs(urlsplit(url).query) for url in fetched if "filter=" in url
    ]
    assert pages and all("bbox" in query for query in pages)
    assert len(pages) == math.ceil(expected / 500)
    info = pyogrio.read_info(out)
    assert info["features"] == expected
    assert "name_th" in list(info["fields"])
