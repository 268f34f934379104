"""Hours in and out as OpenStreetMap opening_hours text: `locator hours export|import`."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from sqlalchemy import text

from locator.agencies.hours_csv import import_rows
from locator.registry import hours
from tests.support.cli import LOCATOR

SATURDAY_HOURS = "Mo-Fr 08:00-16:00; Sa 09:00-12:00; PH off"


def _district_office(connection) -> int:
    return connection.execute(
        text("SELECT id FROM service_point WHERE external_ref = 'DistrictOffice:1001'")
    ).scalar_one()


def test_export_is_osm_syntax_that_reads_back(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "hours.csv"
    run = subprocess.run(
        [LOCATOR, "hours", "export", "--kind", "community_hospital", "-o", str(out)],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    points = [r for r in rows if not r["service_code"]]
    services = [r for r in rows if r["service_code"]]
    assert len(points) == 775 and services
    assert {r["opening_hours"] for r in points} == {"24/7"}  # the emergency room
    assert {r["opening_hours"] for r in services} == {"Mo-Fr 08:00-16:00; PH off"}
    for r in rows[:200]:
        assert hours.to_osm(hours.from_osm(r["opening_hours"])) == r["opening_hours"]
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in rows[0]["name_th"])  # UTF-8 Thai


def test_imported_hours_are_served_and_no_longer_called_made_up(connection, client) -> None:
    point = _district_office(connection)
    before = client.get(f"/v1/points/{point}").json()
    assert before["provenance"]["hours"] == "synthetic"
    report = import_rows(connection, [{"point_id": str(point), "opening_hours": SATURDAY_HOURS}])
    assert report.ok and report.changed == 1
    after = client.get(f"/v1/points/{point}").json()
    assert after["opening_hours_osm"] == SATURDAY_HOURS
    assert after["provenance"]["hours"] == "real"
    assert after["opening_hours"]["weekly"]["sat"] == [["09:00", "12:00"]]
    change = connection.execute(
        text(
            "SELECT field, old_value, new_value FROM change "
            "WHERE table_name = 'service_point' AND record_id = :id ORDER BY id DESC LIMIT 1"
        ),
        {"id": str(point)},
    ).one()
    assert change.field == "opening_hours"
    assert hours.to_osm(change.old_value) == before["opening_hours_osm"]
    assert hours.to_osm(change.new_value) == SATURDAY_HOURS
    # the same file again changes nothing
    again = import_rows(connection, [{"point_id": str(point), "opening_hours": SATURDAY_HOURS}])
    assert again.ok and again.changed == 0 and again.unchanged == 1


def test_one_bad_row_writes_nothing_and_names_each_problem(connection) -> None:
    point = _district_office(connection)
    hospital = connection.execute(
        text("SELECT id FROM service_point WHERE kind = 'community_hospital' ORDER BY id LIMIT 1")
    ).scalar_one()
    before = connection.execute(
        text("SELECT opening_hours FROM service_point WHERE id = :id"), {"id": point}
    ).scalar_one()
    rows = [
        {"point_id": str(point), "opening_hours": SATURDAY_HOURS},
        {"point_id": str(point), "opening_hours": "Mo-Fr 8 to 4"},
        {"point_id": "999999999", "opening_hours": "24/7"},
        {"point_id": str(hospital), "service_code": "passport_issue", "opening_hours": "24/7"},
        {"external_ref": "DistrictOffice:1002", "opening_hours": "Jan-Mar Mo 08:00-12:00"},
        {"point_id": str(hospital), "service_code": "vaccination",
         "opening_hours": "Mo-Fr 08:00-12:00"},
    ]  # fmt: skip
    report = import_rows(connection, rows)
    assert not report.ok and report.changed == 0
    found = {(p.row, p.field) for p in report.problems}
    assert found == {
        (2, "opening_hours"), (3, "point_id"), (4, "service_code"), (5, "opening_hours"),
    }  # fmt: skip
    messages = " ".join(p.message for p in report.problems)
    assert "999999999" in messages and "passport_issue" in messages and "week" in messages
    after = connection.execute(
        text("SELECT opening_hours FROM service_point WHERE id = :id"), {"id": point}
    ).scalar_one()
    assert after == before


def test_cli_dry_run_and_bad_file(cli_env: dict[str, str], tmp_path: Path, engine) -> None:
    with engine.connect() as conn:
        point = _district_office(conn)
        before = conn.execute(
            text("SELECT opening_hours, version FROM service_point WHERE id = :id"), {"id": point}
        ).one()
    good = tmp_path / "good.csv"
    good.write_text(f"point_id,opening_hours\n{point},{SATURDAY_HOURS}\n", encoding="utf-8-sig")
    dry = subprocess.run(
        [LOCATOR, "hours", "import", str(good), "--dry-run"],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "1 would change" in dry.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"point_id,opening_hours\n{point},{SATURDAY_HOURS}\n{point}x,24/7\n", encoding="utf-8"
    )
    refused = subprocess.run(
        [LOCATOR, "hours", "import", str(bad)],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "row 2" in refused.stdout and "point_id" in refused.stdout
    assert "nothing was written" in refused.stdout
    with engine.connect() as conn:
        after = conn.execute(
            text("SELECT opening_hours, version FROM service_point WHERE id = :id"), {"id": point}
        ).one()
    assert tuple(after) == tuple(before)
