"""The OGC API Features facade: landing, conformance, the collection, items, one item,
and a real GIS client (GDAL's OAPIF driver) reading it over HTTP."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.ogc.bbox import parse_bbox
from locator.ogc.cql import filter_sql, parse_filter
from locator.ogc.items import ItemQuery, items_sql
from locator.ogc.sorting import parse_sortby
from locator.query.filters import PointFilter
from locator.settings import get_settings

ITEMS = "/collections/service_points/items"
BANGKOK = "100.45,13.68,100.60,13.80"  # minLon,minLat,maxLon,maxLat
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
OGRINFO = "/usr/bin/ogrinfo"


def _links(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    links = body["links"]
    for link in links:
        assert {"href", "rel", "type", "title"} <= set(link), link
        assert link["href"].startswith("http://localhost/"), link
    return {link["rel"]: link for link in links}


def _count_in_box(
    session: Session, bbox: str, where: str = "p.status = 'active'", **params: Any
) -> int:
    lon0, lat0, lon1, lat1 = (float(v) for v in bbox.split(","))
    return session.execute(
        text(
            "SELECT count(*) FROM service_point p "
            "WHERE ST_X(p.geog::geometry) BETWEEN :lon0 AND :lon1 "
            f"AND ST_Y(p.geog::geometry) BETWEEN :lat0 AND :lat1 AND {where}"
        ),
        {"lon0": lon0, "lat0": lat0, "lon1": lon1, "lat1": lat1, **params},
    ).scalar_one()


# --- landing page, conformance, collections ---------------------------------------------
def test_landing_page_as_json(client: TestClient) -> None:
    for response in (
        client.get("/", headers={"Accept": "application/json"}),
        client.get("/?f=json", headers={"Accept": "text/html"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["title"] and body["description"]
        links = _links(body)
        assert links["self"]["href"] == "http://localhost/"
        assert links["service-desc"]["href"] == "http://localhost/openapi.json"
        assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.1"
        assert links["service-doc"]["href"] == "http://localhost/docs"
        assert links["conformance"]["href"] == "http://localhost/conformance"
        assert links["data"]["href"] == "http://localhost/collections"


@pytest.mark.parametrize(
    "accept",
    [
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # a browser
        "text/html, application/json;q=0.5",
    ],
)
def test_landing_page_sends_browsers_to_the_citizen_page(client: TestClient, accept: str) -> None:
    response = client.get("/", headers={"Accept": accept}, follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].endswith("/app")


@pytest.mark.parametrize("accept", ["*/*", "", "application/json, text/html;q=0.5"])
def test_landing_page_is_json_unless_html_is_preferred(client: TestClient, accept: str) -> None:
    """OWSLib's Features client sends Accept: */* and reads the answer as JSON."""
    response = client.get("/", headers={"Accept": accept}, follow_redirects=False)
    assert response.status_code == 200
    assert response.json()["links"]


def test_status_is_one_rule_on_every_door(client: TestClient, session: Session) -> None:
    """Active points by default, as nearest and search; `status=any` for all of them."""
    total = session.execute(text("SELECT count(*) FROM service_point")).scalar_one()
    active = session.execute(
        text("SELECT count(*) FROM service_point WHERE status = 'active'")
    ).scalar_one()
    assert total > active
    assert client.get(ITEMS, params={"limit": 1}).json()["numberMatched"] == active
    every = client.get(ITEMS, params={"limit": 1, "status": "any"}).json()
    assert every["numberMatched"] == total


def test_conformance(client: TestClient) -> None:
    """Exactly what is implemented, each class tested in this file."""
    classes = client.get("/conformance").json()["conformsTo"]
    base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    part3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
    cql2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
    part6 = "http://www.opengis.net/spec/ogcapi-features-6/1.0/conf/"
    part8 = "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/"
    assert sorted(classes) == sorted(
        [
            CORE,
            base + "geojson",
            part3 + "queryables",
            part3 + "filter",
            part3 + "features-filter",
            cql2 + "cql2-text",
            cql2 + "basic-cql2",
            cql2 + "advanced-comparison-operators",
            cql2 + "case-insensitive-comparison",
            cql2 + "basic-spatial-functions",
            cql2 + "basic-spatial-functions-plus",
            part6 + "properties",
            part6 + "properties-features",
            part8 + "sortables",
            part8 + "sorting",
            part8 + "features-sorting",
        ]
    )
    # the API definition is OpenAPI 3.1, so claiming the OpenAPI 3.0 class would be false;
    # nor is CQL2 JSON, the other spatial functions, temporal or array functions there
    assert base + "oas30" not in classes
    assert not any(
        c.endswith(("cql2-json", "/spatial-functions", "temporal-functions")) for c in classes
    )
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_collection_extent_covers_thailand(client: TestClient) -> None:
    body = client.get("/collections").json()
    assert _links(body)["self"]["href"] == "http://localhost/collections"
    [collection] = body["collections"]
    assert collection == client.get("/collections/service_points").json()
    assert collection["id"] == "service_points"
    assert collection["title"] and collection["description"]
    assert collection["itemType"] == "feature"
    assert collection["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    links = _links(collection)
    assert links["items"]["type"] == "application/geo+json"
    assert links["items"]["href"] == "http://localhost/collections/service_points/items"
    [[lon0, lat0, lon1, lat1]] = collection["extent"]["spatial"]["bbox"]
    # Thailand: Mae Hong Son in the west, Ubon Ratchathani in the east, Chiang Rai in the
    # north, Narathiwat in the south; all inside a box around the country
    assert 97.0 <= lon0 < 98.0 and 105.0 < lon1 <= 106.0
    assert 5.5 <= lat0 < 6.5 and 20.0 < lat1 <= 20.6


def test_unknown_collection_is_404(client: TestClient) -> None:
    for path in ("/collections/schools", "/collections/schools/items", "/collections/x/items/1"):
        response = client.get(path)
        assert response.status_code == 404
        assert "service_points" in response.json()["error"]["message"]


def test_limits_appear_in_the_openapi_schema(client: TestClient) -> None:
    settings = get_settings()
    spec = client.get("/openapi.json").json()
    params = {
        p["name"]: p
        for p in spec["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    }
    assert params["limit"]["schema"]["maximum"] == settings.max_page_size
    assert params["limit"]["schema"]["minimum"] == 1
    assert params["limit"]["schema"]["default"] == settings.default_page_size
    assert params["offset"]["schema"]["minimum"] == 0
    assert f"{settings.max_bbox_area_deg2:g} square degrees" in params["bbox"]["description"]
    assert {"service", "kind", "no_copy"} <= set(params)


# --- items -------------------------------------------------------------------------------
def test_items_pages_follow_next_and_prev(client: TestClient, session: Session) -> None:
    first = client.get(ITEMS, params={"limit": 5})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/geo+json")
    page1 = first.json()
    assert page1["type"] == "FeatureCollection"
    total = session.execute(
        text("SELECT count(*) FROM service_point WHERE status = 'active'")
    ).scalar_one()
    assert page1["numberMatched"] == total > 50_000
    assert page1["numberReturned"] == len(page1["features"]) == 5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", page1["timeStamp"])
    links1 = _links(page1)
    assert "prev" not in links1
    next_url = links1["next"]["href"]
    assert links1["next"]["type"] == "application/geo+json"
    assert parse_qs(urlsplit(next_url).query) == {"limit": ["5"], "offset": ["5"]}

    page2 = client.get(next_url).json()
    ids = [f["id"] for f in page1["features"] + page2["features"]]
    expected = session.execute(
        text("SELECT id FROM service_point WHERE status = 'active' ORDER BY id LIMIT 10")
    ).scalars()
    assert ids == list(expected)
    prev = _links(page2)["prev"]["href"]
    assert client.get(prev).json()["features"] == page1["features"]

    last = client.get(ITEMS, params={"limit": 5, "offset": total - 2}).json()
    assert last["numberReturned"] == 2 and "next" not in _links(last)
    beyond = client.get(ITEMS, params={"offset": total + 10}).json()
    assert beyond["features"] == [] and beyond["numberMatched"] == total


def test_feature_shape(client: TestClient) -> None:
    feature = client.get(ITEMS, params={"limit": 1}).json()["features"][0]
    assert feature["type"] == "Feature"
    assert isinstance(feature["id"], int)
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    assert 97 < lon < 106 and 5 < lat < 21
    assert round(lon, 6) == lon and round(lat, 6) == lat
    props = feature["properties"]
    for name in (
        "name_th",
        "name_en",
        "kind",
        "agency",
        "address_th",
        "address_en",
        "tambon_code",
        "postcode",
        "status",
        "source",
        "wheelchair",
        "priority_lane",
        "gecc",
        "no_copy",
    ):
        assert name in props, name
    assert "copies_required" not in props
    assert re.search(r"[\u0E00-\u0E7F]", props["name_th"])  # Thai script


def test_bbox_returns_only_points_inside(client: TestClient, session: Session) -> None:
    body = client.get(ITEMS, params={"bbox": BANGKOK, "limit": 1000}).json()
    expected = _count_in_box(session, BANGKOK)
    assert 100 < body["numberMatched"] == expected <= 1000
    assert body["numberReturned"] == expected
    lon0, lat0, lon1, lat1 = (float(v) for v in BANGKOK.split(","))
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert lon0 - 1e-6 <= lon <= lon1 + 1e-6 and lat0 - 1e-6 <= lat <= lat1 + 1e-6
    # the next link keeps the bbox
    small = client.get(ITEMS, params={"bbox": BANGKOK, "limit": 10}).json()
    assert parse_qs(urlsplit(_links(small)["next"]["href"]).query)["bbox"] == [BANGKOK]


def test_bbox_is_exact_on_wide_boxes(client: TestClient, session: Session) -> None:
    """Great-circle edges would bow away from a wide box's southern edge: still exact."""
    box = "97.0,6.0,106.0,6.6"
    body = client.get(ITEMS, params={"bbox": box, "limit": 1}).json()
    assert body["numberMatched"] == _count_in_box(session, box) > 0


def test_bbox_query_uses_the_spatial_index(session: Session) -> None:
    query = ItemQuery(bbox=parse_bbox(BANGKOK, 400), limit=10)
    _, count, params = items_sql(query)
    plan = "\n".join(session.execute(text("EXPLAIN " + count), params).scalars())
    assert "idx_service_point_geog" in plan
    _, count, params = items_sql(
        ItemQuery(filters=PointFilter(service="id_card_renewal"), bbox=query.bbox)
    )
    plan = "\n".join(session.execute(text("EXPLAIN " + count), params).scalars())
    assert "ix_offering_service_geog" in plan


def test_service_and_no_copy_filters_agree_with_the_offerings(
    client: TestClient, session: Session
) -> None:
    service = "criminal_record_certificate"  # police stations: some still ask for copies
    counts = {}
    for no_copy in (None, True, False):
        params: dict[str, Any] = {"bbox": BANGKOK, "service": service, "limit": 1000}
        if no_copy is not None:
            params["no_copy"] = str(no_copy).lower()
        body = client.get(ITEMS, params=params).json()
        condition = {
            None: "TRUE",
            True: "cardinality(o.copies_required) = 0",
            False: "cardinality(o.copies_required) > 0",
        }[no_copy]
        expected = _count_in_box(
            session,
            BANGKOK,
            "p.status = 'active' AND EXISTS (SELECT 1 FROM offering o "
            f"WHERE o.point_id = p.id AND o.service_code = :service AND {condition})",
            service=service,
        )
        assert body["numberMatched"] == body["numberReturned"] == expected
        for feature in body["features"]:
            props = feature["properties"]
            assert props["service"] == service
            assert props["no_copy"] is (props["copies_required"] == [])
            if no_copy is not None:
                assert props["no_copy"] is no_copy
        counts[no_copy] = expected
    assert counts[True] > 0 and counts[False] > 0
    assert counts[True] + counts[False] == counts[None]


def test_no_copy_without_service_means_every_offering(client: TestClient, session: Session) -> None:
    body = client.get(ITEMS, params={"bbox": BANGKOK, "no_copy": "true", "limit": 1000}).json()
    expected = _count_in_box(
        session,
        BANGKOK,
        "p.status = 'active' AND NOT EXISTS (SELECT 1 FROM offering o "
        "WHERE o.point_id = p.id AND cardinality(o.copies_required) > 0)",
    )
    assert body["numberMatched"] == expected > 0
    assert all(f["properties"]["no_copy"] is True for f in body["features"])
    assert expected < _count_in_box(session, BANGKOK)


def test_kind_filter(client: TestClient, session: Session) -> None:
    body = client.get(ITEMS, params={"kind": "district_office", "limit": 3}).json()
    expected = session.execute(
        text(
            "SELECT count(*) FROM service_point WHERE kind = 'district_office' "
            "AND status = 'active'"
        )
    ).scalar_one()
    assert body["numberMatched"] == expected > 900
    assert {f["properties"]["kind"] for f in body["features"]} == {"district_office"}
    assert parse_qs(urlsplit(_links(body)["next"]["href"]).query)["kind"] == ["district_office"]


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({"bbox": "100,13,101"}, 422, "bbox"),
        ({"bbox": "101,13,100,14"}, 422, "minLon"),
        ({"bbox": "100,13,101,95"}, 422, "maxLat"),
        ({"bbox": "100,a,101,14"}, 422, "bbox"),
        ({"bbox": "0,-30,90,30"}, 422, "bbox"),  # 5,400 square degrees
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "100000"}, 422, "limit"),
        ({"limit": "ten"}, 422, "limit"),
        ({"offset": "-1"}, 422, "offset"),
        ({"service": "teleportation"}, 422, "service"),
        ({"kind": "space_port"}, 422, "kind"),
        ({"no_copy": "maybe"}, 422, "no_copy"),
        ({"colour": "red"}, 422, "colour"),
        ({"limit": "5", "q": "x"}, 422, "q"),
        ({"sortby": "name"}, 422, "sortby"),
        ({"sortby": "name_en,name_en"}, 422, "twice"),
        ({"sortby": "no_copy"}, 422, "not sortable"),
        ({"properties": "name_en,colour"}, 422, "colour"),
        ({"filter": "colour = 'red'"}, 422, "colour"),
        ({"filter-lang": "cql2-json", "filter": "kind = 'x'"}, 422, "filter-lang"),
        ({"filter-crs": "EPSG:4326", "filter": "kind = 'x'"}, 422, "filter-crs"),
    ],
)
def test_bad_item_parameters_say_what_to_fix(
    client: TestClient, params: dict[str, str], status: int, names: str
) -> None:
    response = client.get(ITEMS, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert names in error["message"]


def test_f_json_is_accepted(client: TestClient) -> None:
    assert client.get(ITEMS, params={"f": "json", "limit": 1}).status_code == 200
    assert client.get("/collections", params={"f": "json"}).status_code == 200


# --- one item ----------------------------------------------------------------------------
def test_one_item(client: TestClient) -> None:
    listed = client.get(ITEMS, params={"bbox": BANGKOK, "limit": 1}).json()["features"][0]
    response = client.get(f"{ITEMS}/{listed['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    feature = response.json()
    links = _links(feature)
    assert links["self"]["href"] == f"http://localhost{ITEMS}/{listed['id']}"
    assert links["collection"]["href"] == "http://localhost/collections/service_points"
    feature.pop("links")
    assert feature == listed


@pytest.mark.parametrize("feature_id", ["999999999", "abc", "-1", "1.5", "9" * 30])
def test_unknown_item_is_404(client: TestClient, feature_id: str) -> None:
    response = client.get(f"{ITEMS}/{feature_id}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "no service point with id" in error["message"]


# --- a real client: GDAL's OAPIF driver over HTTP -----------------------------------------
def _ogrinfo(*args: str) -> str:
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env["GDAL_HTTP_TIMEOUT"] = "60"
    result = subprocess.run(
        [OGRINFO, "-ro", "-so", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(
    not Path(OGRINFO).exists() and not shutil.which("ogrinfo"),
    reason="GDAL's ogrinfo is not installed (Debian package gdal-bin)",
)
def test_ogrinfo_reads_the_collection(live_server: str, engine: Any) -> None:
    with engine.connect() as conn:
        total = conn.execute(
            text("SELECT count(*) FROM service_point WHERE status = 'active'")
        ).scalar_one()
        in_box = conn.execute(
            text(
                "SELECT count(*) FROM service_point WHERE kind = 'police_station' "
                "AND status = 'active' "
                "AND ST_X(geog::geometry) BETWEEN 100.45 AND 100.60 "
                "AND ST_Y(geog::geometry) BETWEEN 13.68 AND 13.80"
            )
        ).scalar_one()

    out = _ogrinfo(f"OAPIF:{live_server}", "service_points")
    assert "Layer name: service_points" in out
    assert "Geometry: Point" in out
    assert f"Feature Count: {total}" in out
    for field in ("name_th: String", "name_en: String", "kind: String", "no_copy: Integer"):
        assert field in out, out
    assert re.search(r"Extent: \(97\.\d+, 5\.\d+\) - \(105\.\d+, 20\.\d+\)", out), out

    # a spatial and an attribute filter (GDAL passes both on as bbox= and kind=)
    out = _ogrinfo(
        "-spat",
        "100.45",
        "13.68",
        "100.60",
        "13.80",
        "-where",
        "kind = 'police_station'",
        f"OAPIF:{live_server}",
        "service_points",
    )
    assert f"Feature Count: {in_box}" in out
    assert in_box > 0


# --- queryables and sortables (Part 3, Part 8 draft) ---------------------------------------
QUERYABLES = "/collections/service_points/queryables"
SORTABLES = "/collections/service_points/sortables"


def test_collection_links_to_queryables_and_sortables(client: TestClient) -> None:
    links = _links(client.get("/collections/service_points").json())
    queryables = links["http://www.opengis.net/def/rel/ogc/1.0/queryables"]
    assert queryables["href"] == f"http://localhost{QUERYABLES}"
    assert queryables["type"] == "application/schema+json"
    sortables = links["http://www.opengis.net/def/rel/ogc/1.0/sortables"]
    assert sortables["href"] == f"http://localhost{SORTABLES}"


def test_queryables_are_a_json_schema(client: TestClient) -> None:
    response = client.get(QUERYABLES)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"http://localhost{QUERYABLES}"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False  # unknown names are refused
    props = schema["properties"]
    assert set(props) == {
        "id",
        "name_th",
        "name_en",
        "kind",
        "agency",
        "status",
        "source",
        "tambon_code",
        "postcode",
        "wheelchair",
        "priority_lane",
        "gecc",
        "no_copy",
        "geometry",
    }
    assert props["geometry"]["format"] == "geometry-point"
    assert props["id"]["type"] == "integer"
    assert props["wheelchair"]["type"] == "boolean"
    assert props["status"]["enum"] == ["active", "temporarily_closed", "closed"]
    for name, prop in props.items():
        assert "type" in prop or prop.get("format", "").startswith("geometry-"), name
    # a client that accepts only plain JSON (GDAL) gets it as application/json
    plain = client.get(QUERYABLES, headers={"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json"
    assert plain.json() == schema


def test_sortables_leave_out_what_cannot_be_sorted(client: TestClient) -> None:
    schema = client.get(SORTABLES).json()
    assert schema["$id"] == f"http://localhost{SORTABLES}"
    assert "name_en" in schema["properties"] and "id" in schema["properties"]
    assert "geometry" not in schema["properties"] and "no_copy" not in schema["properties"]


# --- CQL2 filter ---------------------------------------------------------------------------
def _matched(client: TestClient, **params: Any) -> int:
    response = client.get(ITEMS, params={"limit": 1, **params})
    assert response.status_code == 200, response.text
    matched: int = response.json()["numberMatched"]
    return matched


def _count(session: Session, where: str, **params: Any) -> int:
    return session.execute(
        text(f"SELECT count(*) FROM service_point p WHERE {where}"), params
    ).scalar_one()


ACTIVE = "p.status = 'active'"
NO_COPY = (
    "NOT EXISTS (SELECT 1 FROM offering x WHERE x.point_id = p.id "
    "AND cardinality(x.copies_required) > 0)"
)
TRIANGLE = "POLYGON((100.45 13.68, 100.60 13.68, 100.52 13.80, 100.45 13.68))"


@pytest.mark.parametrize(
    ("cql", "where"),
    [
        ("kind = 'police_station'", "kind = 'police_station'"),
        ("kind <> 'police_station'", "kind <> 'police_station'"),
        ("'police_station' = kind", "kind = 'police_station'"),
        ("id < 1000 AND id >= 10", "id < 1000 AND id >= 10"),
        ("100 > id", "id < 100"),
        ("id BETWEEN 5 AND 500", "id BETWEEN 5 AND 500"),
        ("name_en > 'X'", "name_en > 'X'"),
        (
            "kind = 'post_office' OR NOT (wheelchair = true)",
            "(kind = 'post_office' OR NOT wheelchair)",
        ),
        ("wheelchair = false AND gecc = true", "NOT wheelchair AND gecc"),
        ("priority_lane = 1", "priority_lane"),  # GDAL writes booleans as 1 and 0
        (
            "kind IN ('police_station', 'post_office', 'land_office')",
            "kind IN ('police_station', 'post_office', 'land_office')",
        ),
        ("kind NOT IN ('police_station')", "kind <> 'police_station'"),
        ("name_en LIKE 'Bang%'", "name_en LIKE 'Bang%'"),
        (
            "name_en LIKE '%Rak%' AND name_en NOT LIKE '%Office'",
            "name_en LIKE '%Rak%' AND name_en NOT LIKE '%Office'",
        ),
        ("name_th LIKE '%บางรัก%'", "name_th LIKE '%บางรัก%'"),
        ("name_en LIKE 'Ban_ Rak%'", "name_en LIKE 'Ban_ Rak%'"),
        ("CASEI(name_en) LIKE CASEI('%BANG RAK%')", "name_en ILIKE '%bang rak%'"),
        (
            "CASEI(name_en) = CASEI('BANG RAK DISTRICT OFFICE')",
            "lower(name_en) = 'bang rak district office'",
        ),
        ("postcode IS NULL", "postcode IS NULL"),
        ("tambon_code IS NOT NULL AND tambon_code LIKE '10%'", "tambon_code LIKE '10%'"),
        ("source = 'generated'", "source = 'generated'"),
        ("no_copy = true", NO_COPY),
        (
            "no_copy = false AND kind = 'district_office'",
            f"NOT {NO_COPY} AND kind = 'district_office'",
        ),
        ("name_en IS NULL", "FALSE"),
        ("TRUE", "TRUE"),
        (
            f"S_INTERSECTS(geometry, {TRIANGLE})",
            f"ST_Intersects(geog::geometry, 'SRID=4326;{TRIANGLE}')",
        ),
        (
            "S_INTERSECTS(geometry, POINT(100.4914 13.7508)) OR id = 1",
            "(ST_Intersects(geog::geometry, 'SRID=4326;POINT(100.4914 13.7508)') OR id = 1)",
        ),
        (
            "NOT S_INTERSECTS(geometry, BBOX(97, 5, 101, 21))",
            "NOT (ST_X(geog::geometry) BETWEEN 97 AND 101 "
            "AND ST_Y(geog::geometry) BETWEEN 5 AND 21)",
        ),
    ],
)
def test_filter_matches_the_same_sql(
    client: TestClient, session: Session, cql: str, where: str
) -> None:
    """Each CQL2 construct against a hand-written SQL count over the same table."""
    expected = _count(session, f"{ACTIVE} AND ({where})")
    assert _matched(client, filter=cql) == expected
    assert _matched(client, filter=cql, **{"filter-lang": "cql2-text"}) == expected


def test_filter_answers_what_it_names(client: TestClient) -> None:
    body = client.get(
        ITEMS,
        params={
            "filter": "kind IN ('police_station', 'post_office') AND wheelchair = true",
            "limit": 50,
        },
    ).json()
    assert body["numberMatched"] > 50
    for feature in body["features"]:
        assert feature["properties"]["kind"] in ("police_station", "post_office")
        assert feature["properties"]["wheelchair"] is True


def test_filter_ands_with_the_other_parameters(client: TestClient, session: Session) -> None:
    """filter AND bbox AND kind AND the shared filters; the spatial forms agree."""
    cql = "name_en LIKE '%Police%' OR wheelchair = true"
    both = _matched(client, filter=cql, bbox=BANGKOK, kind="police_station")
    lon0, lat0, lon1, lat1 = (float(v) for v in BANGKOK.split(","))
    inside = (
        f"ST_X(geog::geometry) BETWEEN {lon0} AND {lon1} "
        f"AND ST_Y(geog::geometry) BETWEEN {lat0} AND {lat1}"
    )
    expected = _count(
        session,
        f"{ACTIVE} AND {inside} AND kind = 'police_station' "
        "AND (name_en LIKE '%Police%' OR wheelchair)",
    )
    assert both == expected > 0
    box = f"S_INTERSECTS(geometry, BBOX({lon0}, {lat0}, {lon1}, {lat1}))"
    polygon = (
        f"S_INTERSECTS(geometry, POLYGON(({lon0} {lat0}, {lon1} {lat0}, {lon1} {lat1}, "
        f"{lon0} {lat1}, {lon0} {lat0})))"
    )
    in_box = _matched(client, bbox=BANGKOK)
    assert _matched(client, filter=box) == in_box == _matched(client, filter=polygon)
    assert _matched(client, filter=f"{box} AND kind = 'police_station'") == _matched(
        client, bbox=BANGKOK, kind="police_station"
    )


def test_filter_with_a_service_tests_that_offering(client: TestClient, session: Session) -> None:
    """With `service`, no_copy in the filter means that offering's answer, as the
    feature's no_copy property does."""
    service = "criminal_record_certificate"  # police stations: some still ask for copies
    body = client.get(
        ITEMS, params={"service": service, "filter": "no_copy = false", "limit": 1000}
    ).json()
    expected = _count(
        session,
        f"{ACTIVE} AND EXISTS (SELECT 1 FROM offering o WHERE o.point_id = p.id "
        "AND o.service_code = :s AND cardinality(o.copies_required) > 0)",
        s=service,
    )
    assert body["numberMatched"] == expected > 0
    assert all(f["properties"]["copies_required"] for f in body["features"])
    assert _matched(client, service=service, filter="no_copy = false") == _matched(
        client, service=service, no_copy="false"
    )


def test_agency_in_a_filter_is_the_points_own(client: TestClient, session: Session) -> None:
    """The agency property is the point's own agency code (the `agency=` parameter also
    takes in the agencies below it)."""
    code, count = session.execute(
        text(
            "SELECT a.code, count(*) FROM service_point p JOIN agency a ON a.id = p.agency_id "
            "WHERE p.status = 'active' GROUP BY a.code ORDER BY count(*) DESC LIMIT 1"
        )
    ).one()
    body = client.get(ITEMS, params={"filter": f"agency = '{code}'", "limit": 5}).json()
    assert body["numberMatched"] == count
    assert {f["properties"]["agency"] for f in body["features"]} == {code}
    prefix = code[:3]
    like = _count(
        session,
        f"{ACTIVE} AND p.agency_id IN (SELECT id FROM agency WHERE code LIKE :p)",
        p=prefix + "%",
    )
    assert _matched(client, filter=f"agency LIKE '{prefix}%'") == like


def test_a_filter_on_status_lifts_the_default(client: TestClient, session: Session) -> None:
    """Active points by default; a filter that asks for a status gets it (unless
    `status=` is given too, which still applies)."""
    closed = _count(session, "status = 'temporarily_closed'")
    assert closed > 0
    assert _matched(client, filter="status = 'temporarily_closed'") == closed
    assert _matched(client, filter="status <> 'active'") == closed
    assert _matched(client, filter="status = 'temporarily_closed'", status="active") == 0
    assert _matched(client, filter="kind = 'district_office'") == _count(
        session, f"{ACTIVE} AND kind = 'district_office'"
    )


def test_filter_values_are_bound_never_spliced(client: TestClient, session: Session) -> None:
    """Quotes and SQL in a value are just characters of that value."""
    for cql in (
        "name_en = 'x'' OR ''1''=''1'",
        "name_en = 'x''; DROP TABLE service_point; --'",
        "kind IN ('a'')) OR TRUE OR ((''')",
        "name_en LIKE '%'' OR 1=1 --'",
    ):
        assert _matched(client, filter=cql) == 0, cql
    assert _count(session, "TRUE") > 50_000


@pytest.mark.parametrize(
    ("cql", "names"),
    [
        ("kind = 'x' AND", "character 15"),
        ("kind === 'x'", "not valid CQL2"),
        ("colour = 'red'", "unknown property colour"),
        ("Kind = 'x'", "unknown property Kind"),
        ("kind = 3", "kind is text"),
        ("id = 'ten'", "id is an integer"),
        ("id = 1.5", "id is an integer"),
        ("wheelchair = 'yes'", "wheelchair is true or false"),
        ("wheelchair > true", "compare it with = or <>"),
        ("wheelchair", "not a condition"),
        ("kind = name_en", "not two properties"),
        ("'a' = 'a'", "needs a property"),
        ("name_en LIKE 5", "quoted pattern"),
        ("id LIKE '1%'", "LIKE applies to text"),
        ("name_en LIKE 'abc\\'", "escape character"),
        ("name_en BETWEEN 'a' AND 'b'", "BETWEEN"),
        ("CASEI(id) = 5", "CASEI applies to text"),
        ("ACCENTI(name_en) = ACCENTI('a')", "ACCENTI"),
        ("S_WITHIN(geometry, BBOX(100, 13, 101, 14))", "S_WITHIN is not supported"),
        ("S_INTERSECTS(geometry, BBOX(101, 13, 100, 14))", "minLon"),
        ("S_INTERSECTS(geometry, BBOX(100, 13, 101, 95))", "maxLat"),
        ("S_INTERSECTS(geometry, POINT(13.7 200))", "longitude"),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", "Self-intersection"),
        ("S_INTERSECTS(geometry, LINESTRING(100 13))", "cannot be used"),
        ("S_INTERSECTS(name_en, POINT(100 13))", "the property geometry"),
        ("geometry = 'x'", "S_INTERSECTS"),
        ("T_AFTER(name_en, TIMESTAMP('2020-01-01T00:00:00Z'))", "T_AFTER"),
        ("name_en = TIMESTAMP('2020-01-01T00:00:00Z')", "date or time"),
        ("id = 1 + 2", "cannot be used here"),
        ("NOT " * 60 + "kind = 'x'", "nested"),
        ("kind IN (" + ",".join(["'x'"] * 1001) + ")", "1 to 1000"),
        ("   ", "empty"),
    ],
)
def test_bad_filters_say_what_is_wrong(client: TestClient, cql: str, names: str) -> None:
    response = client.get(ITEMS, params={"filter": cql})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("filter"), error
    assert names in error["message"], error["message"]
    assert "SELECT" not in error["message"] and "psycopg" not in error["message"]


@pytest.mark.parametrize(
    "cql",
    [
        "(" * 2040 + "kind = 'police_station'" + ")" * 2030,
        "id = " + "-" * 4090 + "1",
        "id IN (" + "(" * 2040 + "1" + ")" * 2040 + ")",
        "f(" * 1360 + "1" + ")" * 1360,
    ],
)
def test_deeply_nested_filters_are_answered(client: TestClient, cql: str) -> None:
    """The parser is recursive native code: these, the deepest 4,096 characters can
    nest, once overflowed a thread's stack and killed the process."""
    assert len(cql) <= 4096
    response = client.get(ITEMS, params={"filter": cql, "limit": 1})
    assert response.status_code in (200, 422), response.text


def test_a_filter_longer_than_allowed_is_refused(client: TestClient) -> None:
    response = client.get(ITEMS, params={"filter": "kind = '" + "x" * 5000 + "'"})
    assert response.status_code == 422
    assert "filter" in response.json()["error"]["message"]


def test_next_link_keeps_the_filter(client: TestClient) -> None:
    cql = "kind = 'police_station'"
    body = client.get(ITEMS, params={"filter": cql, "limit": 5, "sortby": "-name_en"}).json()
    query = parse_qs(urlsplit(_links(body)["next"]["href"]).query)
    assert query["filter"] == [cql] and query["sortby"] == ["-name_en"]
    assert query["offset"] == ["5"]


def test_filter_and_bbox_keep_using_the_spatial_index(session: Session) -> None:
    """The page and the count of a bbox page with a filter, and of a filter that is only
    S_INTERSECTS, both start from the GiST index; with a service, from the offering's."""
    box = parse_bbox(BANGKOK, 400)
    cases = [
        ItemQuery(bbox=box, limit=10, cql=parse_filter("kind = 'police_station' OR gecc = true")),
        ItemQuery(limit=10, cql=parse_filter(f"S_INTERSECTS(geometry, {TRIANGLE})")),
        ItemQuery(
            limit=10,
            cql=parse_filter("S_INTERSECTS(geometry, BBOX(100.45, 13.68, 100.6, 13.8))"),
            sortby=parse_sortby("-name_en"),
        ),
    ]
    for query in cases:
        page, count, params = items_sql(query)
        for sql in (page, count):
            plan = "\n".join(session.execute(text("EXPLAIN " + sql), params).scalars())
            assert "idx_service_point_geog" in plan, plan
            assert "Seq Scan on service_point" not in plan, plan
    query = ItemQuery(
        filters=PointFilter(service="id_card_renewal"),
        limit=10,
        cql=parse_filter(f"S_INTERSECTS(geometry, {TRIANGLE}) AND no_copy = true"),
    )
    _, count, params = items_sql(query)
    plan = "\n".join(session.execute(text("EXPLAIN " + count), params).scalars())
    assert "ix_offering_service_geog" in plan, plan


def test_filter_sql_binds_every_value() -> None:
    cql = parse_filter("name_en = 'O''Brien' AND kind IN ('a', 'b') AND id > 3")
    fragment, params = filter_sql(cql, "p.geog", offering=False)
    assert fragment == "p.name_en = :cql_1 AND p.kind IN (:cql_2, :cql_3) AND p.id > :cql_4"
    assert params == {"cql_1": "O'Brien", "cql_2": "a", "cql_3": "b", "cql_4": 3}


# --- sortby (Part 8 draft) -----------------------------------------------------------------
def test_sortby_orders_and_pages_stably(client: TestClient, session: Session) -> None:
    """Ties (many points share a kind) are broken by id, so walking the pages gives each
    point once, in the order the SQL gives."""
    expected = (
        session.execute(
            text(
                "SELECT id FROM service_point p WHERE status = 'active' "
                "AND ST_X(geog::geometry) BETWEEN 100.45 AND 100.60 "
                "AND ST_Y(geog::geometry) BETWEEN 13.68 AND 13.80 ORDER BY kind DESC, name_en, id"
            )
        )
        .scalars()
        .all()
    )
    ids: list[int] = []
    url: str | None = ITEMS
    params: dict[str, Any] | None = {"bbox": BANGKOK, "sortby": "-kind,+name_en", "limit": 37}
    while url:
        body = client.get(url, params=params).json()
        ids += [f["id"] for f in body["features"]]
        url, params = _links(body).get("next", {}).get("href"), None
    assert ids == expected and len(ids) > 100


@pytest.mark.parametrize(
    ("sortby", "order"),
    [
        ("name_en", "name_en, id"),
        ("-id", "id DESC"),
        (
            "agency,-name_th",
            "(SELECT code FROM agency a WHERE a.id = p.agency_id), name_th DESC, id",
        ),
        (" postcode", "postcode, id"),  # '+' unencoded in a URL arrives as a space
        ("-wheelchair,id", "wheelchair DESC, id"),
    ],
)
def test_sortby_keys(client: TestClient, session: Session, sortby: str, order: str) -> None:
    expected = (
        session.execute(
            text(
                "SELECT id FROM service_point p WHERE status = 'active' "
                f"AND kind = 'district_office' ORDER BY {order} LIMIT 20 OFFSET 40"
            )
        )
        .scalars()
        .all()
    )
    body = client.get(
        ITEMS, params={"kind": "district_office", "sortby": sortby, "limit": 20, "offset": 40}
    ).json()
    assert [f["id"] for f in body["features"]] == expected


# --- properties (Part 6 draft) -------------------------------------------------------------
def test_properties_choose_what_is_returned(client: TestClient) -> None:
    full = client.get(ITEMS, params={"bbox": BANGKOK, "limit": 5}).json()["features"]
    some = client.get(
        ITEMS, params={"bbox": BANGKOK, "limit": 5, "properties": "name_en, kind"}
    ).json()["features"]
    assert [f["id"] for f in some] == [f["id"] for f in full]
    for whole, chosen in zip(full, some, strict=True):
        assert chosen["properties"] == {
            "name_en": whole["properties"]["name_en"],
            "kind": whole["properties"]["kind"],
        }
        assert chosen["geometry"] == whole["geometry"]
    bare = client.get(ITEMS, params={"limit": 2, "properties": ""}).json()["features"]
    assert [f["properties"] for f in bare] == [{}, {}]
    served = client.get(
        ITEMS,
        params={"limit": 2, "service": "id_card_renewal", "properties": "no_copy,copies_required"},
    ).json()["features"]
    assert all(set(f["properties"]) == {"no_copy", "copies_required"} for f in served)


def test_properties_on_one_item(client: TestClient) -> None:
    response = client.get(f"{ITEMS}/1", params={"properties": "name_th,no_copy"})
    assert response.status_code == 200
    assert set(response.json()["properties"]) == {"name_th", "no_copy"}
    bad = client.get(f"{ITEMS}/1", params={"properties": "secret"})
    assert bad.status_code == 422 and "secret" in bad.json()["error"]["message"]


def test_a_six_number_bbox_is_read_in_the_3d_order_or_refused_in_it(client: TestClient) -> None:
    """OGC API Features' 3D form is minLon,minLat,minHeight,maxLon,maxLat,maxHeight (issue
    20, item 13): the same points as the 2D box; a box with its heights put last reads as
    an impossible one, and the answer names the 6-number order, not the 4-number one."""
    lon0, lat0, lon1, lat1 = BANGKOK.split(",")
    in_2d = _matched(client, bbox=BANGKOK)
    assert _matched(client, bbox=f"{lon0},{lat0},-50,{lon1},{lat1},3000") == in_2d > 0
    for heights_last in (f"{BANGKOK},0,100", f"{BANGKOK},0,10"):
        response = client.get(ITEMS, params={"bbox": heights_last})
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "minLon,minLat,minHeight,maxLon,maxLat,maxHeight" in message, message
    filtered = f"S_INTERSECTS(geometry, BBOX({lon0},{lat0},-50,{lon1},{lat1},3000))"
    assert _matched(client, filter=filtered) == in_2d


def test_a_filter_never_rounds_an_integer(client: TestClient, session: Session) -> None:
    """cql2 reads numbers as doubles (issue 20, item 13): 2**53 + 1 would be read as 2**53
    and match that id; such an integer is refused, an ordinary one compared exactly."""
    one = session.execute(text("SELECT min(id) FROM service_point")).scalar_one()
    assert _matched(client, filter=f"id = {one}") == 1
    assert _matched(client, filter=f"id IN ({one}, {one + 1})") == 2
    for big in ("id = 9007199254740993", "id BETWEEN 1 AND 9007199254740993"):
        response = client.get(ITEMS, params={"filter": big})
        assert response.status_code == 422, response.text
        assert "exactly" in response.json()["error"]["message"]
