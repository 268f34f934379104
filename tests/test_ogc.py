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

from locator.features import ItemQuery, items_sql, parse_bbox
from locator.filters import PointFilter
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
    classes = client.get("/conformance").json()["conformsTo"]
    base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    assert {CORE, base + "geojson"} <= set(classes)
    # the API definition is OpenAPI 3.1, so claiming the OpenAPI 3.0 class would be false
    assert base + "oas30" not in classes
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
    service = "id_card_renewal"
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
            "EXISTS (SELECT 1 FROM offering o WHERE o.point_id = p.id "
            f"AND o.service_code = :service AND {condition})",
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
        ({"limit": "5", "sortby": "name", "q": "x"}, 422, "sortby"),
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
