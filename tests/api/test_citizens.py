"""The citizens' door over HTTP, on the full 60,000-point registry."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from shapely import STRtree
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.query.filters import PointFilter
from locator.query.nearest import nearest_sql
from locator.registry.hours import is_open
from locator.settings import get_settings
from tests.support.api import with_settings

BANGKOK = {"lat": 13.7563, "lon": 100.5018}
CHIANG_MAI = {"lat": 18.7883, "lon": 98.9853}
MONDAY_10AM = "2026-11-23T10:00:00"
SUNDAY_10AM = "2026-11-29T10:00:00"


def nearest(client: TestClient, **params) -> list[dict]:
    response = client.get("/v1/points/nearest", params=params)
    assert response.status_code == 200, response.text
    return response.json()["results"]


# --- nearest ---------------------------------------------------------------------------
@pytest.mark.parametrize("origin", [BANGKOK, CHIANG_MAI, {"lat": 7.0, "lon": 100.47}])
def test_nearest_is_exactly_the_geodesic_top_k(client: TestClient, connection, origin) -> None:
    results = nearest(client, k=15, **origin)
    assert len(results) == 15
    distances = [r["distance_m"] for r in results]
    assert distances == sorted(distances)
    brute = connection.execute(
        text(
            "SELECT id, ST_Distance(geog, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)"
            " AS d FROM service_point WHERE status = 'active' ORDER BY d, id LIMIT 15"
        ),
        origin,
    ).all()
    assert [r["id"] for r in results] == [b.id for b in brute]
    assert distances == [round(b.d, 1) for b in brute]


def test_nearest_with_a_service_is_exact_too(client: TestClient, connection) -> None:
    results = nearest(client, k=5, service="land_title_transfer", **CHIANG_MAI)
    brute = connection.execute(
        text(
            "SELECT p.id FROM offering o JOIN service_point p ON p.id = o.point_id "
            "WHERE o.service_code = 'land_title_transfer' AND p.status = 'active' "
            "ORDER BY ST_Distance(p.geog, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)"
            " LIMIT 5"
        ),
        CHIANG_MAI,
    ).scalars()
    assert [r["id"] for r in results] == list(brute)
    for r in results:
        assert r["offering"]["service"] == "land_title_transfer"
        assert r["offering"]["no_copy"] == (r["offering"]["copies_required"] == [])


def test_result_fields(client: TestClient) -> None:
    first = nearest(client, k=1, **BANGKOK)[0]
    assert {"id", "name_th", "name_en", "kind", "agency", "distance_m", "bearing_deg",
            "address_th", "address_en", "open_now", "offering"} <= set(first)  # fmt: skip
    assert first["agency"]["code"] and first["agency"]["name_th"]
    assert 0 <= first["bearing_deg"] <= 360


def test_bearing_points_the_right_way(client: TestClient) -> None:
    target = nearest(client, k=1, **CHIANG_MAI)[0]
    south_of_it = {"lat": target["lat"] - 0.05, "lon": target["lon"]}
    hit = nearest(client, k=1, kind=target["kind"], **south_of_it)[0]
    if hit["id"] == target["id"]:
        assert hit["bearing_deg"] < 5 or hit["bearing_deg"] > 355  # due north


def test_rare_service_uses_the_composite_index(connection) -> None:
    """EXPLAIN shows an ordered (KNN) index scan on ix_offering_service_geog."""
    statement, params = nearest_sql(PointFilter(service="passport_issue"), None)
    plan = connection.execute(
        text("EXPLAIN (FORMAT JSON) " + statement),
        {**params, "lat": 13.75, "lon": 100.5, "k": 10},
    ).scalar_one()
    nodes = []

    def walk(node: dict) -> None:
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    knn = [n for n in nodes if n.get("Index Name") == "ix_offering_service_geog"]
    assert knn, json.dumps(plan)[:2000]
    assert any("Order By" in n and "<->" in n["Order By"] for n in knn)
    assert any("service_code" in n.get("Index Cond", "") for n in knn)
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") in ("offering", "service_point")
        for n in nodes
    )


def test_filters(client: TestClient) -> None:
    for r in nearest(client, k=20, service="id_card_renewal", no_copy="true", **BANGKOK):
        assert r["offering"]["copies_required"] == []
    for r in nearest(client, k=20, service="id_card_renewal", no_copy="false", **BANGKOK):
        assert r["offering"]["copies_required"]
    for r in nearest(client, k=20, wheelchair="true", gecc="true", priority_lane="true",
                     **BANGKOK):  # fmt: skip
        assert r["wheelchair"] and r["gecc"] and r["priority_lane"]
    for r in nearest(client, k=10, kind="police_station", **BANGKOK):
        assert r["kind"] == "police_station"
    dopa = nearest(client, k=10, agency="dopa", **CHIANG_MAI)
    assert dopa and {r["kind"] for r in dopa} <= {
        "district_office",
        "province_hall",
        "village_headman_office",
    }
    moi = nearest(client, k=30, agency="moi", **CHIANG_MAI)  # the ministry: all below it
    assert {r["agency"]["code"].split("_")[0] for r in moi} >= {"dopa"}


def test_no_copy_without_a_service_means_no_offering_needs_copies(
    client: TestClient, connection
) -> None:
    for r in nearest(client, k=10, no_copy="true", **BANGKOK):
        wanting = connection.execute(
            text(
                "SELECT count(*) FROM offering WHERE point_id = :id "
                "AND cardinality(copies_required) > 0"
            ),
            {"id": r["id"]},
        ).scalar_one()
        assert wanting == 0


def test_open_now_is_judged_in_bangkok_time(client: TestClient) -> None:
    monday = nearest(client, k=10, open_now="true", at=MONDAY_10AM, **BANGKOK)
    assert len(monday) == 10
    sunday = nearest(client, k=10, open_now="true", at=SUNDAY_10AM, **BANGKOK)
    assert len(sunday) < 10 or all(r["open_now"] for r in sunday)
    # 03:00 UTC on Monday is 10:00 in Bangkok
    utc = nearest(client, k=10, open_now="true", at="2026-11-23T03:00:00Z", **BANGKOK)
    assert [r["id"] for r in utc] == [r["id"] for r in monday]


def _assert_sql_agrees_with_python(connection, picked: list, at: dt.datetime) -> None:
    sql = dict(
        connection.execute(
            text(
                "SELECT id, locator_is_open(opening_hours, :at) FROM service_point "
                "WHERE id = ANY(:ids)"
            ),
            {"at": at, "ids": [r.id for r in picked]},
        ).all()
    )
    for r in picked:
        assert sql[r.id] == is_open(r.opening_hours, at), (r.id, at)


def test_sql_and_python_agree_on_opening_hours(connection) -> None:
    rows = connection.execute(
        text("SELECT id, opening_hours FROM service_point ORDER BY id LIMIT 3000")
    ).all()
    picked = random.Random(7).sample(rows, 300)
    base = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    for minutes in range(0, 7 * 24 * 60, 97):
        at = base + dt.timedelta(minutes=minutes)
        _assert_sql_agrees_with_python(connection, picked, at)


def test_offices_close_on_public_holidays(client: TestClient, connection) -> None:
    """Constitution Day (Thursday 10 December 2026) and the in-lieu Monday for the King's
    Birthday (7 December): government offices are shut, 24-hour points are not."""
    district = {"kind": "district_office", "k": 10, "open_now": "true", **BANGKOK}
    assert len(nearest(client, at="2026-12-09T10:00:00", **district)) == 10
    assert nearest(client, at="2026-12-10T10:00:00", **district) == []
    assert nearest(client, at="2026-12-07T10:00:00", **district) == []
    always = connection.execute(
        text(
            "SELECT count(*) FROM service_point WHERE NOT opening_hours ? 'public_holidays' "
            "AND locator_is_open(opening_hours, '2026-12-10T03:00:00Z')"
        )
    ).scalar_one()
    assert always > 0
    # SQL and Python agree through the holiday week, hour by hour
    rows = connection.execute(
        text("SELECT id, opening_hours FROM service_point ORDER BY id LIMIT 3000")
    ).all()
    picked = random.Random(11).sample(rows, 200)
    base = dt.datetime(2026, 12, 4, 17, tzinfo=dt.UTC)  # Saturday 5th, 00:00 in Bangkok
    for hours in range(0, 7 * 24, 5):
        at = base + dt.timedelta(hours=hours, minutes=7)
        _assert_sql_agrees_with_python(connection, picked, at)


def test_within_radius(client: TestClient) -> None:
    results = nearest(client, k=100, radius_m=1500, **CHIANG_MAI)
    assert results and all(r["distance_m"] <= 1500 for r in results)
    assert nearest(client, k=5, radius_m=1, lat=10.0, lon=99.0) == []


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"lat": 95, "lon": 100}, "lat"),
        ({"lat": "abc", "lon": 100}, "lat"),
        ({"lat": "nan", "lon": 100}, "lat"),
        ({"lat": 13, "lon": "inf"}, "lon"),
        ({"lon": 100}, "lat"),
        ({"lat": 13, "lon": 100, "k": 0}, "k"),
        ({"lat": 13, "lon": 100, "k": 101}, "k"),
        ({"lat": 13, "lon": 100, "radius_m": 0}, "radius_m"),
        ({"lat": 13, "lon": 100, "radius_m": 10_000_000}, "radius_m"),
        ({"lat": 13, "lon": 100, "service": "no_such_service"}, "service"),
        ({"lat": 13, "lon": 100, "service": "'; DROP TABLE offering; --"}, "service"),
        ({"lat": 13, "lon": 100, "agency": "nobody"}, "agency"),
        ({"lat": 13, "lon": 100, "at": "yesterday"}, "at"),
        ({"lat": 13, "lon": 100, "open_now": "perhaps"}, "open_now"),
    ],
)
def test_bad_input_names_the_parameter(client: TestClient, params, names) -> None:
    response = client.get("/v1/points/nearest", params=params)
    assert response.status_code == 422, response.text
    assert names in response.json()["error"]["message"]


# --- detail ------------------------------------------------------------------------------
def test_point_detail(client: TestClient) -> None:
    first = nearest(client, k=1, service="id_card_renewal", **CHIANG_MAI)[0]
    response = client.get(f"/v1/points/{first['id']}")
    assert response.status_code == 200
    detail = response.json()
    assert response.headers["etag"].startswith('"')
    assert detail["phones"] and detail["opening_hours"]["tz"] == "Asia/Bangkok"
    assert detail["rating"]["count"] == 0
    renewal = next(s for s in detail["services"] if s["code"] == "id_card_renewal")
    assert renewal["steps"] and renewal["documents"]
    assert {d["code"] for d in renewal["documents"] if d["copy_required"]} == set(
        renewal["copies_required"]
    )
    again = client.get(
        f"/v1/points/{first['id']}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["etag"] == response.headers["etag"]
    listed = client.get(
        f"/v1/points/{first['id']}",
        headers={"If-None-Match": f'"other", W/{response.headers["etag"]}'},
    )
    assert listed.status_code == 304


def test_etag_changes_when_a_rating_arrives(client: TestClient) -> None:
    point = nearest(client, k=1, **BANGKOK)[0]
    etag = client.get(f"/v1/points/{point['id']}").headers["etag"]
    assert client.post(f"/v1/points/{point['id']}/ratings", json={"score": 4}).status_code == 201
    after = client.get(f"/v1/points/{point['id']}", headers={"If-None-Match": etag})
    assert after.status_code == 200, "a cached detail would hide the new rating"
    assert after.headers["etag"] != etag and after.json()["rating"]["count"] == 1


def test_etag_follows_open_now(client: TestClient) -> None:
    point = nearest(client, k=1, kind="district_office", **BANGKOK)[0]
    tuesday_noon, tuesday_midnight = "2026-11-24T12:00:00+07:00", "2026-11-24T23:30:00+07:00"
    opened = client.get(f"/v1/points/{point['id']}", params={"at": tuesday_noon})
    closed = client.get(f"/v1/points/{point['id']}", params={"at": tuesday_midnight})
    assert opened.json()["open_now"] and not closed.json()["open_now"]
    assert opened.headers["etag"] != closed.headers["etag"]


@pytest.mark.parametrize(("path", "status"), [("999999999", 404), ("0", 422), ("abc", 422)])
def test_unknown_point(client: TestClient, path: str, status: int) -> None:
    response = client.get(f"/v1/points/{path}")
    assert response.status_code == status
    assert response.json()["error"]["message"]


# --- text search -------------------------------------------------------------------------
def search(client: TestClient, **params) -> list[dict]:
    response = client.get("/v1/points/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_thai_search_every_word(client: TestClient) -> None:
    hits = search(client, q="ที่ดิน เชียงใหม่")
    assert hits
    for hit in hits:
        assert "ที่ดิน" in hit["name_th"] and "เชียงใหม่" in hit["name_th"]


def test_english_search_is_case_insensitive_and_biased_by_location(client: TestClient) -> None:
    hits = search(client, q="district office", lat=CHIANG_MAI["lat"], lon=CHIANG_MAI["lon"])
    assert hits[0]["name_en"] == "Mueang Chiang Mai District Office"
    distances = [h["distance_m"] for h in hits]
    assert distances == sorted(distances)


def test_fuzzy_search_survives_a_typo(client: TestClient) -> None:
    hits = search(client, q="Chaing Mai Provincial Hall")
    assert "Chiang Mai Provincial Hall" in [h["name_en"] for h in hits]


def test_search_with_filters(client: TestClient) -> None:
    hits = search(client, q="โรงพยาบาล", service="vaccination", no_copy="true")
    assert hits and all(h["offering"]["no_copy"] for h in hits)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a", "lat": 13}, "lat"),
    ],
)
def test_bad_search_input(client: TestClient, params, name) -> None:
    response = client.get("/v1/points/search", params=params)
    assert response.status_code == 422
    assert name in response.json()["error"]["message"]


# --- catalogue ---------------------------------------------------------------------------
def test_services(client: TestClient) -> None:
    body = client.get("/v1/services").json()
    assert body["count"] >= 40
    passport = next(s for s in body["services"] if s["code"] == "passport_issue")
    assert 0 < passport["points"] < 100  # a rare service
    detail = client.get("/v1/services/passport_issue").json()
    assert detail["steps"] and detail["documents"] and detail["name_th"]
    assert client.get("/v1/services/nope").status_code == 404
    health = client.get("/v1/services", params={"category": "health"}).json()
    assert health["count"] and {s["category"] for s in health["services"]} == {"health"}


def test_areas_geojson(client: TestClient) -> None:
    response = client.get("/v1/areas/province")
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert len(body["features"]) == 77
    assert {"code", "name_th", "name_en"} <= set(body["features"][0]["properties"])
    assert client.get("/v1/areas/planet").status_code == 422


def test_area_borders_stay_shared_when_simplified(client: TestClient, session: Session) -> None:
    body = client.get("/v1/areas/province").json()
    shapes = [shapely.geometry.shape(f["geometry"]) for f in body["features"]]
    assert all(shape.is_valid for shape in shapes)
    pairs = STRtree(shapes).query(shapes, predicate="intersects").T
    overlap = sum(shapes[i].intersection(shapes[j]).area for i, j in pairs if i < j)
    assert overlap < sum(shape.area for shape in shapes) * 1e-6
    vertices = sum(shapely.get_num_coordinates(shape) for shape in shapes)
    original = session.execute(
        text("SELECT sum(ST_NPoints(geom)) FROM admin_area WHERE level = 'province'")
    ).scalar_one()
    assert vertices < original / 2


# --- ratings -----------------------------------------------------------------------------
def test_rating_appears_on_the_detail(client: TestClient) -> None:
    point = nearest(client, k=1, service="birth_registration", **BANGKOK)[0]
    comment = '<img src=x onerror="alert(1)"> บริการดีมาก'
    response = client.post(
        f"/v1/points/{point['id']}/ratings",
        json={"score": 5, "comment": comment, "service": "birth_registration"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["comment"] == comment  # plain text, kept as typed
    client.post(f"/v1/points/{point['id']}/ratings", json={"score": 2})
    summary = client.get(f"/v1/points/{point['id']}").json()["rating"]
    assert summary["count"] == 2 and summary["average"] == 3.5
    assert summary["by_score"]["5"] == 1 and summary["recent"][1]["comment"] == comment


def test_rating_limit_per_client_per_point_per_day(client: TestClient) -> None:
    point = nearest(client, k=1, **CHIANG_MAI)[0]
    url = f"/v1/points/{point['id']}/ratings"
    for _ in range(3):
        assert client.post(url, json={"score": 4}).status_code == 201
    response = client.post(url, json={"score": 1})
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 86_400
    assert "per day" in response.json()["error"]["message"]
    other = nearest(client, k=2, **CHIANG_MAI)[1]  # another point is fine
    assert client.post(f"/v1/points/{other['id']}/ratings", json={"score": 4}).status_code == 201


def test_rating_limit_per_client_per_day_over_all_points(client: TestClient) -> None:
    """One client cannot rate point after point: a day's ratings over all points are
    bounded too (LOCATOR_RATINGS_PER_CLIENT_PER_DAY)."""
    narrow = get_settings().model_copy(update={"ratings_per_client_per_day": 3})
    with_settings(client, narrow)
    points = nearest(client, k=4, **CHIANG_MAI)
    for point in points[:3]:
        r = client.post(f"/v1/points/{point['id']}/ratings", json={"score": 4})
        assert r.status_code == 201, r.text
    refused = client.post(f"/v1/points/{points[3]['id']}/ratings", json={"score": 4})
    assert refused.status_code == 429, refused.text
    assert "over all points" in refused.json()["error"]["message"]
    assert 0 < int(refused.headers["retry-after"]) <= 86_400


@pytest.mark.parametrize(
    ("body", "status", "name"),
    [
        ({"score": 6}, 422, "score"),
        ({"score": 0}, 422, "score"),
        ({"score": "five"}, 422, "score"),
        ({}, 422, "score"),
        ({"score": 3, "comment": "x" * 1001}, 422, "comment"),
        ({"score": 3, "service": "passport_issue"}, 422, "service"),
        ({"score": 3, "client_hash": "forged"}, 422, "client_hash"),
    ],
)
def test_bad_ratings(client: TestClient, body, status, name) -> None:
    point = nearest(client, k=1, kind="tao_office", **BANGKOK)[0]
    response = client.post(f"/v1/points/{point['id']}/ratings", json=body)
    assert response.status_code == status, response.text
    assert name in response.json()["error"]["message"]


def test_rating_an_unknown_point(client: TestClient) -> None:
    assert client.post("/v1/points/999999999/ratings", json={"score": 3}).status_code == 404


def test_limits_are_in_the_openapi_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/v1/points/nearest"]["get"]["parameters"]}
    assert params["k"]["schema"]["anyOf"][0]["maximum"] == 100
    assert params["limit"]["schema"]["maximum"] == 1000
    assert params["radius_m"]["schema"]["anyOf"][0]["maximum"] == 200_000
    assert params["lat"]["schema"]["minimum"] == -90


def test_responses_match_their_documented_models(client: TestClient) -> None:
    """The hot routes answer pre-serialised JSON; it must still be what OpenAPI says."""
    from locator.api.schemas import NearestResponse, PointDetail, SearchResponse

    body = client.get("/v1/points/nearest", params={"service": "vaccination", **BANGKOK}).json()
    NearestResponse.model_validate(body)
    SearchResponse.model_validate(client.get("/v1/points/search", params={"q": "อำเภอ"}).json())
    point = body["results"][0]["id"]
    client.post(f"/v1/points/{point}/ratings", json={"score": 4, "comment": "ดี"})
    PointDetail.model_validate(client.get(f"/v1/points/{point}").json())


def test_detail_gives_osm_hours_and_the_next_closure(client: TestClient, connection) -> None:
    office = connection.execute(
        text(
            "SELECT id FROM service_point WHERE kind = 'district_office' "
            "AND opening_hours->>'public_holidays' = 'closed' ORDER BY id LIMIT 1"
        )
    ).scalar_one()
    r = client.get(f"/v1/points/{office}", params={"at": "2026-12-08T10:00:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    osm = body["opening_hours_osm"]
    assert osm.startswith("Mo-Fr 08:30-") and osm.endswith("; PH off")
    assert body["next_closure"] == {
        "date": "2026-12-10",
        "name_th": "วันรัฐธรรมนูญ",
        "name_en": "Constitution Day",
    }


def test_every_registry_hours_form_survives_osm_syntax(connection) -> None:
    from locator.registry.hours import from_osm, to_osm

    forms = connection.execute(text("SELECT DISTINCT opening_hours FROM service_point")).scalars()
    for form in forms:
        back = from_osm(to_osm(form))
        assert back["weekly"] == form["weekly"], to_osm(form)
        assert back.get("public_holidays") == form.get("public_holidays")


SATURDAY_10PM = "2026-11-28T22:00:00"


def test_hospitals_are_open_at_night_for_emergencies_only(client: TestClient) -> None:
    """The point is open whenever its emergency room is; its outpatient services keep
    office hours, and "open now" with a service judges the service's own."""
    near = {"kind": "community_hospital", "k": 5, "at": SATURDAY_10PM, **CHIANG_MAI}
    open_points = nearest(client, open_now="true", **near)
    assert len(open_points) == 5
    assert nearest(client, open_now="true", service="vaccination", **near) == []
    er = nearest(client, open_now="true", service="emergency_care", **near)
    assert len(er) == 5 and all(r["offering"]["open_now"] for r in er)
    closed = nearest(client, open_now="false", service="vaccination", **near)
    assert len(closed) == 5 and not any(r["offering"]["open_now"] for r in closed)
    # a public holiday closes the outpatient department, not the emergency room
    holiday = {**near, "at": "2026-12-10T10:00:00"}
    assert len(nearest(client, open_now="true", service="emergency_care", **holiday)) == 5
    assert nearest(client, open_now="true", service="vaccination", **holiday) == []
    weekday = {**near, "at": MONDAY_10AM}
    assert len(nearest(client, open_now="true", service="vaccination", **weekday)) == 5


def test_a_hospital_detail_gives_each_service_its_hours(client: TestClient) -> None:
    (hospital,) = nearest(client, kind="provincial_hospital", k=1, **CHIANG_MAI)
    r = client.get(f"/v1/points/{hospital['id']}", params={"at": SATURDAY_10PM})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["opening_hours_osm"] == "24/7" and body["open_now"] is True
    services = {s["code"]: s for s in body["services"]}
    assert services["emergency_care"]["opening_hours"] is None
    assert services["emergency_care"]["open_now"] is True
    assert services["vaccination"]["opening_hours_osm"] == "Mo-Fr 08:00-16:00; PH off"
    assert services["vaccination"]["open_now"] is False


def test_sql_and_python_agree_on_service_hours(connection) -> None:
    rows = connection.execute(
        text(
            "SELECT o.point_id, o.service_code, coalesce(o.opening_hours, p.opening_hours) AS h "
            "FROM offering o JOIN service_point p ON p.id = o.point_id "
            "WHERE p.kind IN ('community_hospital', 'provincial_hospital') "
            "ORDER BY 1, 2 LIMIT 400"
        )
    ).all()
    base = dt.datetime(2026, 12, 5, 17, tzinfo=dt.UTC)
    for hours in range(0, 4 * 24, 7):
        at = base + dt.timedelta(hours=hours)
        sql = {
            (r.point_id, r.service_code): r.open
            for r in connection.execute(
                text(
                    "SELECT o.point_id, o.service_code, "
                    "locator_is_open(coalesce(o.opening_hours, p.opening_hours), :at) AS open "
                    "FROM offering o JOIN service_point p ON p.id = o.point_id "
                    "WHERE (o.point_id, o.service_code) IN (SELECT * FROM unnest(:ids, :codes))"
                ),
                {
                    "at": at,
                    "ids": [r.point_id for r in rows],
                    "codes": [r.service_code for r in rows],
                },
            )
        }
        for r in rows:
            assert sql[(r.point_id, r.service_code)] == is_open(r.h, at), (r, at)


def test_every_point_says_what_is_real_and_what_is_made_up(client: TestClient) -> None:
    real = nearest(client, kind="district_office", k=1, **CHIANG_MAI)[0]
    made_up = nearest(client, kind="post_office", k=1, **CHIANG_MAI)[0]
    real_detail = client.get(f"/v1/points/{real['id']}").json()
    assert real_detail["source"] == "pinned"
    assert real_detail["provenance"]["location"] == "real"
    assert real_detail["provenance"]["name"] == "real"
    assert {real_detail["provenance"][k] for k in ("phones", "hours", "no_copy")} == {"synthetic"}
    generated = client.get(f"/v1/points/{made_up['id']}").json()["provenance"]
    assert set(generated.values()) == {"synthetic"}
    # in the OGC items (and so in every GDAL export) as one flat property
    r = client.get(
        "/collections/service_points/items",
        params={
            "bbox": f"{real['lon'] - 0.01},{real['lat'] - 0.01},{real['lon'] + 0.01},"
            f"{real['lat'] + 0.01}",
            "limit": 100,
        },
    )
    features = {f["id"]: f["properties"] for f in r.json()["features"]}
    assert features[real["id"]]["synthetic"] == "phones,hours,no_copy"
