"""The pin check (issue 11 item 6): the real source's known errors are flagged, the
honest offices are not, and one pin is judged by the same check."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from sqlalchemy import Connection, text

from locator.registry import pincheck
from locator.settings import get_settings
from tests.support.cli import LOCATOR


def flags_of(conn: Connection, external_ref: str) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT q.flag FROM qa_flag q JOIN service_point p ON p.id = q.point_id "
            "WHERE p.external_ref = :ref"
        ),
        {"ref": external_ref},
    )
    return {r[0] for r in rows}


def count(conn: Connection, flag: str) -> int:
    return int(
        conn.execute(text("SELECT count(*) FROM qa_flag WHERE flag = :f"), {"f": flag}).scalar_one()
    )


def test_the_eighteen_wrong_province_offices_are_flagged(connection: Connection) -> None:
    assert count(connection, "wrong_province") == 18
    # every one of them is a real office whose code's province is not the pin's
    rows = connection.execute(
        text(
            "SELECT p.source, left(split_part(p.external_ref, ':', 2), 2), left(p.tambon_code, 2) "
            "FROM qa_flag q JOIN service_point p ON p.id = q.point_id "
            "WHERE q.flag = 'wrong_province'"
        )
    ).all()
    assert all(src == "pinned" and code != pin for src, code, pin in rows)


def test_a_mis_addressed_tao_is_flagged(connection: Connection) -> None:
    # 141 TAOs coded to a tambon other than the one their pin (and address) lies in, and
    # one of the three with a municipal 4-digit code (Chiang Kham TAO in tambon Yuan)
    assert count(connection, "tao_misaddressed") == 142
    # Ban Khae TAO (Ayutthaya, 140803) sits 657 m over the border, in Ang Thong's 150307
    assert "tao_misaddressed" in flags_of(connection, "TAOOffice:140803")
    detail = connection.execute(
        text(
            "SELECT q.detail FROM qa_flag q JOIN service_point p ON p.id = q.point_id "
            "WHERE p.external_ref = 'TAOOffice:140803' AND q.flag = 'tao_misaddressed'"
        )
    ).scalar_one()
    assert "140803" in detail and "150307" in detail


def test_khok_khian_of_phang_nga_on_narathiwats_coordinates_is_flagged(
    connection: Connection,
) -> None:
    phang_nga = flags_of(connection, "TAOOffice:820506")
    assert {"duplicate", "wrong_province", "outside_tambon"} <= phang_nga
    assert "duplicate" in flags_of(connection, "TAOOffice:960107")  # its twin, the real one
    measured = connection.execute(
        text(
            "SELECT q.measured FROM qa_flag q JOIN service_point p ON p.id = q.point_id "
            "WHERE p.external_ref = 'TAOOffice:820506' AND q.flag = 'outside_tambon'"
        )
    ).scalar_one()
    assert float(measured["distance_m"]) > 400_000
    # the source's four exact duplicates (same type, same coordinates), both rows of each
    exact = connection.execute(
        text(
            "SELECT count(*) FROM qa_flag WHERE flag = 'duplicate' "
            "AND (measured->>'distance_m')::float = 0"
        )
    ).scalar_one()
    assert exact == 8


def test_an_honest_office_is_not_flagged(connection: Connection) -> None:
    assert flags_of(connection, "DistrictOffice:1001") == set()  # Phra Nakhon, Bangkok
    assert flags_of(connection, "TAOOffice:960107") == {"duplicate"}
    # no generated point is judged by the loader, and most real offices pass
    flagged, real = connection.execute(
        text(
            "SELECT count(DISTINCT q.point_id), "
            "(SELECT count(*) FROM service_point WHERE source = 'pinned') "
            "FROM qa_flag q"
        )
    ).one()
    assert 0 < flagged < real * 0.05


def test_the_pin_check_on_a_handcrafted_good_and_bad_pin(connection: Connection) -> None:
    settings = get_settings()
    tambon, postcode, lon, lat = connection.execute(
        text(
            "SELECT code, postcodes[1], ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM admin_area "
            "WHERE level = 'tambon' AND code = '100101'"
        )
    ).one()
    good = pincheck.check_pin(
        connection, settings, lon=lon, lat=lat, tambon_code=tambon, postcode=postcode,
        kind="post_office", agency_id=None, name_th="ที่ทำการไปรษณีย์ทดสอบ",
    )  # fmt: skip
    assert good == []
    # the same office pinned in Chiang Mai, with a postcode of elsewhere
    bad = pincheck.check_pin(
        connection, settings, lon=98.9853, lat=18.7883, tambon_code=tambon, postcode="50000",
        kind="post_office", agency_id=None, name_th="ที่ทำการไปรษณีย์ทดสอบ",
    )  # fmt: skip
    by_flag = {f.flag: f for f in bad}
    assert set(by_flag) == {"outside_tambon", "wrong_province", "postcode_mismatch"}
    assert by_flag["outside_tambon"].measured["distance_m"] > 500_000
    assert by_flag["wrong_province"].measured["pin_province"] == "50"
    # a second pin of an existing office of the same agency, 20 m away, is a duplicate
    point_id, agency_id, name_th, tambon_code, postcode, plon, plat = connection.execute(
        text(
            "SELECT id, agency_id, name_th, tambon_code, postcode, "
            "ST_X(geog::geometry), ST_Y(geog::geometry) FROM service_point "
            "WHERE external_ref = 'DistrictOffice:1001'"
        )
    ).one()
    twin = pincheck.check_pin(
        connection, settings, lon=plon + 0.0002, lat=plat, tambon_code=tambon_code,
        postcode=postcode, kind="district_office", agency_id=agency_id, name_th=name_th,
    )  # fmt: skip
    assert [(f.flag, f.other_point_id) for f in twin] == [("duplicate", point_id)]
    # ... but not when it is that office itself being moved
    moved = pincheck.check_pin(
        connection, settings, lon=plon + 0.0002, lat=plat, tambon_code=tambon_code,
        postcode=postcode, kind="district_office", agency_id=agency_id, name_th=name_th,
        point_id=point_id,
    )  # fmt: skip
    assert moved == []


def test_locator_qa_writes_the_report(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "qa.csv"
    done = subprocess.run(
        [LOCATOR, "qa", "-o", str(out)], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "wrong_province" in done.stdout and "18" in done.stdout
    assert "points need review" in done.stdout
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == pincheck.REPORT_COLUMNS
    assert sum(r["flag"] == "wrong_province" for r in rows) == 18
    khok_khian = [r for r in rows if r["external_ref"] == "TAOOffice:820506"]
    assert {r["flag"] for r in khok_khian} >= {"duplicate", "wrong_province"}
    assert all(r["detail"] for r in rows)
    status = subprocess.run(
        [LOCATOR, "status"], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert "pin check:" in status.stdout and "wrong_province 18" in status.stdout


def test_stats_show_the_qa_counts(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/stats").json()
    assert body["qa"]["flags"]["wrong_province"] == 18
    assert body["qa"]["needs_review"] > 0
    assert 0.8 < body["synthetic_share"] < 1
    assert body["by_kind"]["district_office"]["pinned"] == 926
    assert len(body["by_province"]) == 77
    # counts by kind and province, real and generated
    phuket = body["by_province"]["83"]
    assert phuket["by_kind"]["industrial_office"] == 1 and phuket["by_kind"]["land_office"] >= 1
    assert (
        phuket["real"] + phuket["generated"] == phuket["points"] == sum(phuket["by_kind"].values())
    )
    bangkok = body["by_province"]["10"]["by_kind"]
    assert bangkok["police_station"] == 88 and "health_promoting_hospital" not in bangkok
    assert (
        body["synthetic"]["generated_points"] + body["synthetic"]["real_points"] == body["points"]
    )
    assert body["synthetic"]["made_up_on_real_points"] == ["phones", "hours", "no_copy"]
