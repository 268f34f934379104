"""The national registry as analysts and citizens will meet it."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from locator.errors import ConfigurationError
from locator.ingest.catalogue import read_catalogue
from locator.ingest.registry import Registry, build_registry, read_areas, write_registry
from locator.settings import get_settings
from tests.support.cli import LOCATOR
from tests.support.database import REGISTRY_SEED

# Thailand's extent, generously: no point may fall outside it.
LON_MIN, LON_MAX, LAT_MIN, LAT_MAX = 97.3, 105.7, 5.6, 20.5


def scalar(conn, sql: str, **params):
    return conn.execute(text(sql), params).scalar_one()


def test_about_sixty_thousand_points_real_and_generated(connection) -> None:
    catalogue = read_catalogue(get_settings().catalogue_dir)
    total = scalar(connection, "SELECT count(*) FROM service_point")
    assert 58_000 <= total <= 62_000
    by_kind = dict(
        connection.execute(text("SELECT kind, count(*) FROM service_point GROUP BY 1")).all()
    )
    for rule in catalogue.generation.kinds:
        assert by_kind[rule.kind] == rule.count, rule.kind
    assert by_kind["district_office"] == 926  # 876 amphoe + 50 Bangkok khet
    assert by_kind["province_hall"] == 76
    pinned = scalar(connection, "SELECT count(*) FROM service_point WHERE source = 'pinned'")
    assert pinned == 5_266  # the 5,284 real offices less obsolete and kinds we do not serve


def test_every_point_is_inside_thailand(connection) -> None:
    outside_box = scalar(
        connection,
        "SELECT count(*) FROM service_point WHERE ST_X(geog::geometry) NOT BETWEEN :x0 AND :x1 "
        "OR ST_Y(geog::geometry) NOT BETWEEN :y0 AND :y1",
        x0=LON_MIN, x1=LON_MAX, y0=LAT_MIN, y1=LAT_MAX,
    )  # fmt: skip
    assert outside_box == 0
    # Points outside every tambon polygon: only real offices on coasts and rivers, where
    # the simplified polygons are approximate, and then within a few km of the land.
    rows = connection.execute(
        text(
            "SELECT p.source, min(ST_Distance(p.geog, a.geom::geography)) AS metres "
            "FROM service_point p JOIN admin_area a ON a.code = p.tambon_code "
            "WHERE NOT EXISTS (SELECT 1 FROM admin_area t WHERE t.level = 'tambon' "
            "  AND ST_Intersects(t.geom, p.geog::geometry)) "
            "GROUP BY p.id, p.source"
        )
    ).all()
    assert {r.source for r in rows} <= {"pinned"}
    assert len(rows) <= 26
    assert max(r.metres for r in rows) < 10_000


def test_generated_points_lie_in_the_tambon_they_name(connection) -> None:
    bad = scalar(
        connection,
        "SELECT count(*) FROM service_point p LEFT JOIN admin_area a "
        "ON a.code = p.tambon_code AND a.level = 'tambon' "
        "WHERE p.source = 'generated' "
        "AND (a.code IS NULL OR NOT ST_Covers(a.geom, p.geog::geometry))",
    )
    assert bad == 0


def test_every_point_offers_a_service(connection) -> None:
    lonely = scalar(
        connection,
        "SELECT count(*) FROM service_point p "
        "WHERE NOT EXISTS (SELECT 1 FROM offering o WHERE o.point_id = p.id)",
    )
    assert lonely == 0


def test_no_copy_mix_is_realistic(connection) -> None:
    total, no_copy = connection.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE cardinality(copies_required) = 0) "
            "FROM offering"
        )
    ).one()
    assert 0.70 <= no_copy / total <= 0.95
    # copies demanded are documents the service actually requires, mostly ID card and
    # house registration; a no-copy offering says since when.
    foreign = scalar(
        connection,
        "SELECT count(*) FROM offering o, unnest(o.copies_required) doc "
        "WHERE NOT EXISTS (SELECT 1 FROM service_document d "
        "  WHERE d.service_code = o.service_code AND d.document_code = doc)",
    )
    assert foreign == 0
    top = connection.execute(
        text(
            "SELECT doc, count(*) FROM offering, unnest(copies_required) doc "
            "GROUP BY doc ORDER BY 2 DESC LIMIT 2"
        )
    ).all()
    assert {doc for doc, _ in top} == {"id_card", "house_registration"}
    undated = scalar(
        connection,
        "SELECT count(*) FROM offering WHERE cardinality(copies_required) = 0 "
        "AND no_copy_since IS NULL",
    )
    assert undated == 0


def test_no_copy_has_a_story_an_analyst_can_find(connection) -> None:
    """The synthetic adoption model (data/no_copy.yaml): agencies and provinces differ,
    GECC offices lead, one adoption date per office, and no contradiction."""
    still = dict(
        connection.execute(
            text(
                "SELECT p.kind, avg((EXISTS (SELECT 1 FROM offering o WHERE o.point_id = p.id "
                "AND cardinality(o.copies_required) > 0))::int) "
                "FROM service_point p WHERE p.kind IN ('district_office', 'tao_office', "
                "'police_station') GROUP BY p.kind"
            )
        ).all()
    )
    # civil registration (DOPA) adopted first and almost everywhere; TAOs and police later
    assert still["district_office"] < 0.12 < 0.2 < still["tao_office"]
    assert still["police_station"] > 2 * still["district_office"]
    by_province = connection.execute(
        text(
            "SELECT left(p.tambon_code, 2), avg((cardinality(o.copies_required) > 0)::int) "
            "FROM offering o JOIN service_point p ON p.id = o.point_id "
            "WHERE p.kind = 'tao_office' GROUP BY 1 HAVING count(*) > 200"
        )
    ).all()
    shares = sorted(float(share) for _, share in by_province)
    assert shares[-1] - shares[0] > 0.15  # provinces differ
    gecc, other = connection.execute(
        text(
            "SELECT avg(x) FILTER (WHERE gecc), avg(x) FILTER (WHERE NOT gecc) FROM ("
            " SELECT p.gecc, (EXISTS (SELECT 1 FROM offering o WHERE o.point_id = p.id"
            " AND cardinality(o.copies_required) > 0))::int AS x FROM service_point p) t"
        )
    ).one()
    assert float(gecc) < 0.75 * float(other), (gecc, other)
    dates = scalar(
        connection,
        "SELECT max(n) FROM (SELECT count(DISTINCT no_copy_since) AS n FROM offering "
        "GROUP BY point_id) t",
    )
    assert dates == 1
    contradictions = scalar(
        connection,
        "SELECT count(*) FROM offering WHERE "
        "(service_code IN ('id_card_renewal', 'id_card_replacement') "
        " AND 'id_card' = ANY(copies_required)) "
        "OR (service_code = 'driving_licence_renewal' "
        " AND 'driving_licence' = ANY(copies_required)) "
        "OR (service_code LIKE 'house_registration_move%' "
        " AND 'house_registration' = ANY(copies_required))",
    )
    assert contradictions == 0


def test_agencies_form_a_hierarchy_up_to_a_ministry(connection) -> None:
    orphans = scalar(
        connection,
        """
        WITH RECURSIVE up AS (
            SELECT id AS start, id, parent_id, level, 1 AS depth FROM agency
            UNION ALL
            SELECT up.start, a.id, a.parent_id, a.level, up.depth + 1
            FROM up JOIN agency a ON a.id = up.parent_id
        ), rooted AS (
            SELECT start FROM up
            WHERE parent_id IS NULL AND level = 'ministry' AND depth BETWEEN 2 AND 4
        )
        SELECT count(*) FROM service_point p
        WHERE p.agency_id NOT IN (SELECT start FROM rooted)
        """,
    )
    assert orphans == 0
    # local self-government: every TAO is its own agency, under the DLA
    tao_agencies = connection.execute(
        text(
            "SELECT count(DISTINCT p.agency_id), count(*), min(parent.code) "
            "FROM service_point p JOIN agency a ON a.id = p.agency_id "
            "JOIN agency parent ON parent.id = a.parent_id WHERE p.kind = 'tao_office'"
        )
    ).one()
    assert tao_agencies[0] == tao_agencies[1] and tao_agencies[2] == "dla"


def test_real_offices_keep_real_names_and_coordinates(connection) -> None:
    row = connection.execute(
        text(
            "SELECT name_th, name_en, ST_Y(geog::geometry) AS lat, ST_X(geog::geometry) AS lon, "
            "address_th, postcode, source FROM service_point "
            "WHERE external_ref = 'DistrictOffice:1001'"
        )
    ).one()
    assert row.name_th == "สำนักงานเขตพระนคร"
    assert row.name_en == "Phra Nakhon District Office"
    assert (round(row.lat, 4), round(row.lon, 4)) == (13.7651, 100.4988)
    assert row.source == "pinned" and "กรุงเทพมหานคร" in row.address_th
    assert row.postcode == "10200"


def test_thai_names_addresses_hours_and_phones(connection) -> None:
    rows = connection.execute(
        text(
            "SELECT name_th, address_th, phones, opening_hours FROM service_point "
            "WHERE source = 'generated' ORDER BY id LIMIT 200"
        )
    ).all()
    for r in rows:
        assert any("\u0e00" <= ch <= "\u0e7f" for ch in r.name_th)
        assert r.address_th and r.phones and r.phones[0].startswith("0")
        assert r.opening_hours["tz"] == "Asia/Bangkok"
    evening_or_weekend = scalar(
        connection,
        "SELECT count(*) FROM service_point "
        "WHERE jsonb_array_length(opening_hours->'weekly'->'sat') > 0 "
        "OR opening_hours->'weekly'->'mon'->0->>1 > '16:30'",
    )
    assert evening_or_weekend > 1000


@pytest.fixture(scope="module")
def rebuilt(engine) -> Registry:
    """The registry built again, in this process, with the seed the database was loaded with."""
    settings = get_settings()
    with engine.connect() as conn:
        areas = read_areas(conn)
    return build_registry(areas, settings.data_dir, settings.catalogue_dir, REGISTRY_SEED)


def test_same_seed_same_registry(connection, rebuilt: Registry) -> None:
    stored = pd.read_sql(
        text(
            "SELECT id, kind, name_th, name_en, tambon_code, phones, "
            "ST_X(geog::geometry) AS x, ST_Y(geog::geometry) AS y "
            "FROM service_point ORDER BY id"
        ),
        connection,
    )
    points = rebuilt.points
    for column in ("id", "kind", "name_th", "name_en", "tambon_code", "phones"):
        assert stored[column].tolist() == points[column].tolist(), column
    assert (abs(stored["x"] - points.geometry.x.to_numpy()) < 1e-9).all()
    assert (abs(stored["y"] - points.geometry.y.to_numpy()) < 1e-9).all()
    offerings = pd.read_sql(
        text(
            "SELECT point_id, service_code, copies_required FROM offering "
            "ORDER BY point_id, service_code"
        ),
        connection,
    )
    expected = rebuilt.offerings.sort_values(["point_id", "service_code"], ignore_index=True)
    assert offerings["service_code"].tolist() == expected["service_code"].tolist()
    assert offerings["copies_required"].tolist() == expected["copies_required"].tolist()


def test_another_seed_another_registry(connection, rebuilt: Registry) -> None:
    settings = get_settings()
    areas = read_areas(connection)
    other = build_registry(areas, settings.data_dir, settings.catalogue_dir, REGISTRY_SEED + 1)
    pinned = rebuilt.points["source"] == "pinned"
    same = other.points.geometry.geom_equals_exact(rebuilt.points.geometry, 0)
    assert same[pinned].all()  # real offices stay where they are
    assert not same[~pinned].any()  # generated ones move


def test_a_failed_write_leaves_the_registry_untouched(engine, rebuilt: Registry) -> None:
    """All or nothing: an error half-way through the rebuild rolls everything back."""
    with engine.connect() as conn:
        before = scalar(conn, "SELECT count(*) FROM service_point")
    broken = copy.copy(rebuilt)
    broken.offerings = rebuilt.offerings.copy()
    broken.offerings.loc[0, "service_code"] = "no_such_service"
    with pytest.raises(Exception, match=r"no_such_service|foreign key"), engine.begin() as conn:
        write_registry(conn, broken)
    with engine.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM service_point") == before
        indexes = set(
            conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'offering'")
            ).scalars()
        )
        triggers = conn.execute(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'offering'::regclass "
                "AND NOT tgisinternal AND tgenabled = 'O'"
            )
        ).scalar_one()
    assert "ix_offering_service_geog" in indexes
    assert triggers == 1


def test_catalogue_is_complete_and_bilingual() -> None:
    catalogue = read_catalogue(get_settings().catalogue_dir)
    assert len(catalogue.services) >= 40
    codes = {s.code for s in catalogue.services}
    assert {"id_card_renewal", "passport_issue", "land_title_transfer", "birth_registration",
            "annual_vehicle_tax", "uc_gold_card_registration"} <= codes  # fmt: skip
    for service in catalogue.services:
        assert service.name_th and service.name_en and service.steps
        assert any("\u0e00" <= ch <= "\u0e7f" for ch in service.name_th)


def test_a_broken_catalogue_names_the_entry(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(get_settings().catalogue_dir, folder)
    services = folder / "services.yaml"
    services.write_text(
        re.sub(r"code: id_card\b", "code: id_kard", services.read_text(encoding="utf-8"), count=1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="id_kard"):
        read_catalogue(folder)


def test_cli_refuses_to_overwrite_without_replace(cli_env: dict[str, str]) -> None:
    out = subprocess.run(
        [LOCATOR, "load", "registry"], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert "--replace" in out.stderr


def test_status_shows_the_registry(cli_env: dict[str, str]) -> None:
    out = subprocess.run(
        [LOCATOR, "status", "--json"], env=cli_env, capture_output=True, text=True, timeout=120
    )
    registry = json.loads(out.stdout)["registry"]
    assert registry["by_source"]["pinned"] == 5_266
    assert registry["by_kind"]["health_promoting_hospital"]["generated"] > 9000
    assert registry["by_province"]["50"]["name_en"] == "Chiang Mai"
    assert sum(p["points"] for p in registry["by_province"].values()) == registry["points"]
    assert 0.7 <= registry["no_copy_share"] <= 0.95
    human = subprocess.run(
        [LOCATOR, "status"], env=cli_env, capture_output=True, text=True, timeout=120
    ).stdout
    assert "village_headman_office" in human and "no-copy" in human
