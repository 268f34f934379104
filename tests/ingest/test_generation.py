"""The generated layer follows the rules of Thai administration (data/generation.yaml)
and sits where a phone pin of the real office would: checked in SQL on the loaded
registry, as an analyst would audit it."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from locator.ingest.catalogue import read_catalogue
from locator.settings import get_settings

BANGKOK = "10"


def _rows(connection, sql: str, **params):
    return connection.execute(text(sql), params).all()


def _rules():
    return read_catalogue(get_settings().catalogue_dir).generation


def test_every_kind_has_its_published_count_and_source() -> None:
    for rule in _rules().kinds:
        assert rule.count > 0 and len(rule.source) > 20, rule.kind


def test_once_per_province_kinds_are_in_every_province_and_nowhere_else(connection) -> None:
    provinces = {
        r.code for r in _rows(connection, "SELECT code FROM admin_area WHERE level = 'province'")
    }
    assert len(provinces) == 77
    present = pd.DataFrame(
        _rows(
            connection,
            "SELECT kind, left(tambon_code, 2) AS province, count(*) AS n FROM service_point "
            "WHERE source = 'generated' GROUP BY 1, 2",
        )
    )
    where = {k: set(g["province"]) for k, g in present.groupby("kind")}
    checked = 0
    for rule in _rules().kinds:
        found = where[rule.kind]
        if rule.where == "bangkok":
            assert found == {BANGKOK}, rule.kind
        elif rule.where == "outside_bangkok":
            assert BANGKOK not in found, rule.kind
            if rule.per in ("province", "district", "tambon"):
                assert found == provinces - {BANGKOK}, (rule.kind, provinces - found)
        elif rule.per == "listed":
            expected = set(rule.provinces) | ({BANGKOK} if rule.bangkok else set())
            assert found == expected, rule.kind
        else:
            assert found == provinces, (rule.kind, provinces - found)
        checked += rule.per == "province"
    assert checked >= 10
    # Bangkok has khet offices, BMA health centres and metropolitan police, not the
    # provinces' health-promoting and community hospitals or village headmen
    for kind in ("health_promoting_hospital", "community_hospital", "village_headman_office"):
        assert BANGKOK not in where[kind], kind


def test_one_office_per_unit_where_the_rule_says_so(connection) -> None:
    # every district has a police station and a post office; every tambon outside
    # Bangkok a health-promoting hospital; a general hospital's district no community one
    for kind, level, exclude in (
        ("police_station", "district", None),
        ("post_office", "district", None),
        ("health_promoting_hospital", "tambon", BANGKOK),
    ):
        width = 4 if level == "district" else 6
        missing = connection.execute(
            text(
                "SELECT count(*) FROM admin_area a WHERE a.level = :level "
                "AND (CAST(:exclude AS text) IS NULL OR left(a.code, 2) <> :exclude) "
                "AND NOT EXISTS (SELECT 1 FROM service_point p WHERE p.kind = :kind "
                "AND left(p.tambon_code, :width) = a.code)"
            ),
            {"level": level, "exclude": exclude, "kind": kind, "width": width},
        ).scalar_one()
        assert missing == 0, kind
    # a community hospital may share a district only when it is named after its tambon
    named_after_district = connection.execute(
        text(
            "SELECT count(*) FROM service_point c JOIN service_point g "
            "ON left(c.tambon_code, 4) = left(g.tambon_code, 4) "
            "JOIN admin_area d ON d.code = left(c.tambon_code, 4) "
            "WHERE c.kind = 'community_hospital' AND g.kind = 'provincial_hospital' "
            "AND c.name_th = 'โรงพยาบาล' || d.name_th"
        )
    ).scalar_one()
    assert named_after_district == 0


def test_names_are_real_places_and_never_numbered_copies(connection) -> None:
    numbered = connection.execute(
        text("SELECT count(*) FROM service_point WHERE name_th ~ 'แห่งที่ [0-9]+' ")
    ).scalar_one()
    assert numbered == 0
    repeated = connection.execute(
        text(
            "SELECT count(*) FROM (SELECT kind, left(tambon_code, 4), name_th FROM service_point "
            "WHERE source = 'generated' GROUP BY 1, 2, 3 HAVING count(*) > 1) x"
        )
    ).scalar_one()
    assert repeated == 0
    police = dict(
        _rows(
            connection,
            "SELECT left(tambon_code, 2) = '10' AS bangkok, "
            "bool_and(name_th LIKE CASE WHEN left(tambon_code, 2) = '10' "
            "THEN 'สถานีตำรวจนครบาล%' ELSE 'สถานีตำรวจภูธร%' END) "
            "FROM service_point WHERE kind = 'police_station' GROUP BY 1",
        )
    )
    assert police == {True: True, False: True}
    assert (
        connection.execute(
            text(
                "SELECT count(*) FROM service_point "
                "WHERE kind = 'police_station' AND left(tambon_code, 2) = '10'"
            )
        ).scalar_one()
        == 88
    )


def test_headman_offices_only_for_real_villages_of_their_tambon(connection) -> None:
    villages = pd.read_csv(
        get_settings().data_dir / "th_muban_villages_hoerstemeier.csv",
        dtype={"geocode": str, "tambon": str},
    ).dropna(subset=["tambon"])
    real = {
        (t, n, int(g[-2:]))
        for t, n, g in zip(
            villages["tambon"], villages["name_th"], villages["geocode"], strict=True
        )
    }
    rows = _rows(
        connection,
        "SELECT tambon_code, name_th, substring(address_th FROM 'หมู่ที่ ([0-9]+)')::int AS moo "
        "FROM service_point WHERE kind = 'village_headman_office'",
    )
    assert len(rows) == 39_000
    invented = [
        r for r in rows
        if not any((r.tambon_code, name, r.moo) in real for name in _village_names(r.name_th))
    ]  # fmt: skip
    assert invented == []
    # the share is population weighted: the most populous tambons have more of them
    share = connection.execute(
        text(
            "WITH t AS (SELECT a.code, a.population, count(p.id) AS offices FROM admin_area a "
            "LEFT JOIN service_point p "
            "ON p.tambon_code = a.code AND p.kind = 'village_headman_office' "
            "WHERE a.level = 'tambon' AND left(a.code, 2) <> '10' GROUP BY 1, 2) "
            "SELECT corr(population, offices) FROM t"
        )
    ).scalar_one()
    assert share > 0.3


def _village_names(name_th: str) -> list[str]:
    """The village in "ที่ทำการผู้ใหญ่บ้าน{village} หมู่ที่ N ตำบล..."."""
    village = name_th.removeprefix("ที่ทำการผู้ใหญ่บ้าน").split(" หมู่ที่ ")[0]
    return [village]


def test_town_offices_sit_in_town_near_the_real_office(connection) -> None:
    """A district's police station, land office and hospital within a few km of its
    real district office, not anywhere in the district; province offices near the
    province hall."""
    rows = _rows(
        connection,
        """
        SELECT g.kind, ST_Distance(g.geog, d.geog) AS metres
        FROM service_point g
        JOIN admin_area a ON a.code = left(g.tambon_code, 4)
        JOIN service_point d ON d.external_ref = 'DistrictOffice:' || left(g.tambon_code, 4)
        WHERE g.kind IN ('community_hospital', 'revenue_office', 'police_station')
          AND g.name_th LIKE '%' || regexp_replace(a.name_th, '^เขต', '')
        """,
    )
    frame = pd.DataFrame(rows)
    for kind, group in frame.groupby("kind"):
        assert group["metres"].median() < 1_500, kind
        assert group["metres"].quantile(0.95) < 4_100, kind
    halls = _rows(
        connection,
        """
        SELECT g.kind, ST_Distance(g.geog, h.geog) AS metres FROM service_point g
        JOIN service_point h ON h.external_ref = 'ProvinceHall:' || left(g.tambon_code, 2)
        WHERE g.kind IN ('industrial_office', 'public_works_office', 'employment_office')
        """,
    )
    metres = pd.Series([r.metres for r in halls])
    assert len(metres) >= 200 and metres.median() < 2_000 and metres.quantile(0.9) < 5_100


def test_generated_pins_are_on_land_and_phone_precise(connection) -> None:
    # on the provinces' land coverage (Natural Earth), except on the few islands that
    # coverage leaves out, where the tambon polygon is all the land there is
    wet = connection.execute(
        text(
            "WITH land AS (SELECT ST_Union(geom) AS geom FROM admin_area "
            "WHERE level = 'province') "
            "SELECT count(*) FROM service_point p JOIN admin_area t ON t.code = p.tambon_code, "
            "land WHERE p.source = 'generated' AND NOT ST_Covers(land.geom, p.geog::geometry) "
            "AND ST_Area(ST_Intersection(t.geom, land.geom)) > 0.05 * ST_Area(t.geom)"
        )
    ).scalar_one()
    assert wet == 0
    imprecise = connection.execute(
        text(
            "SELECT count(*) FROM service_point WHERE source = 'generated' AND "
            "(round(ST_X(geog::geometry)::numeric, 5) <> ST_X(geog::geometry)::numeric "
            "OR round(ST_Y(geog::geometry)::numeric, 5) <> ST_Y(geog::geometry)::numeric)"
        )
    ).scalar_one()
    assert imprecise == 0
    shared = connection.execute(
        text(
            "SELECT count(*) FROM (SELECT phone FROM service_point, unnest(phones) phone "
            "GROUP BY 1 HAVING count(*) > 1) x"
        )
    ).scalar_one()
    assert shared == 0
