"""An agency's points in bulk, as agency staff and an attacker meet it over HTTP and on the
command line: export, edit, import back; all rows or none, each bad row named."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from locator.agencies import accounts
from locator.api import create_app
from locator.registry.hours import BANGKOK
from locator.settings import get_settings
from tests.support.api import in_transaction
from tests.support.cli import LOCATOR

CSV = {"Content-Type": "text/csv"}


def _auth(connection, agency: str | None, role: str = "editor") -> dict[str, str]:
    key = accounts.create(connection, f"b{uuid.uuid4().hex[:10]}", agency, role).key
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def dopa_50(connection) -> dict[str, str]:
    return _auth(connection, "dopa_50")


def _export(
    client: TestClient, headers: dict[str, str], code: str, fmt: str = "csv", **params: Any
) -> Any:
    r = client.get(f"/v1/agencies/{code}/points", params={"format": fmt, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _import(
    client: TestClient,
    headers: dict[str, str],
    code: str,
    body: bytes,
    content_type: str = "text/csv",
    **params: Any,
) -> Any:
    return client.post(
        f"/v1/agencies/{code}/points:import",
        content=body,
        params=params,
        headers={**headers, "Content-Type": content_type},
    )


def test_an_export_reads_back_unchanged_in_every_format(client, dopa_50) -> None:
    exported = _export(client, dopa_50, "dopa_50", "csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="dopa_50-points.csv"' in exported.headers["content-disposition"]
    rows = _rows(exported.content)
    assert len(rows) == int(exported.headers["x-total-count"]) > 1000
    hall = next(r for r in rows if r["kind"] == "district_office")
    assert hall["name_th"].startswith("ที่ว่าการอำเภอ") and hall["source"] == "pinned"
    # a real office's made-up fields are named as such; a generated point is all made up
    assert hall["synthetic"] == "phones,hours,no_copy"
    generated = next(r for r in rows if r["source"] == "generated")
    assert "location" in generated["synthetic"] and "name" in generated["synthetic"]
    for fmt, media in (
        ("csv", "text/csv"),
        ("geojson", "application/geo+json"),
        ("gpkg", "application/geopackage+sqlite3"),
    ):
        data = _export(client, dopa_50, "dopa_50", fmt).content
        r = _import(client, dopa_50, "dopa_50", data, media, dry_run="true")
        assert r.status_code == 200, r.text[:500]
        body = r.json()
        assert (body["rows"], body["unchanged"], body["created"], body["updated"]) == (
            len(rows),
            len(rows),
            0,
            0,
        ), fmt
        assert body["dry_run"] is True and body["written"] is False
    doc = json.loads(_export(client, dopa_50, "dopa_50", "geojson").content)
    feature = doc["features"][0]
    assert feature["geometry"]["type"] == "Point" and feature["properties"]["qa_flags"] == []
    assert feature["properties"]["synthetic"] == ["phones", "hours", "no_copy"]


def test_a_csv_export_runs_no_formula_and_reads_back_unchanged(client, dopa_50, connection) -> None:
    """A cell a spreadsheet would run (``=HYPERLINK`` in a name, ``+66`` in phones) is
    written with a leading apostrophe; the import takes it off again."""
    point = connection.execute(
        text(
            "SELECT p.id FROM service_point p JOIN agency a ON a.id = p.agency_id "
            "WHERE a.code = 'dopa_50' ORDER BY p.id LIMIT 1"
        )
    ).scalar_one()
    hostile = '=HYPERLINK("http://evil.example","Click")'
    connection.execute(
        text(
            "UPDATE service_point SET name_en = :n, phones = ARRAY['+66 53 112 000'] WHERE id = :i"
        ),
        {"n": hostile, "i": point},
    )
    exported = _export(client, dopa_50, "dopa_50", "csv").content
    rows = _rows(exported)
    row = next(r for r in rows if r["id"] == str(point))
    assert row["name_en"] == "'" + hostile and row["phones"] == "'+66 53 112 000"
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values() if v)
    back = _import(client, dopa_50, "dopa_50", exported, dry_run="true")
    assert back.status_code == 200, back.text[:500]
    assert back.json()["unchanged"] == len(rows)


def _dopa_rows(client: TestClient, headers: dict[str, str]) -> list[dict[str, str]]:
    """Two provinces' DOPA points: 3,289 rows."""
    return [
        r for code in ("dopa_30", "dopa_34") for r in _rows(_export(client, headers, code).content)
    ]


def test_thousands_of_rows_with_one_bad_row_write_nothing_and_name_it(client, connection) -> None:
    dopa = _auth(connection, "dopa")  # the department acts for its provincial offices
    rows = _dopa_rows(client, dopa)
    assert len(rows) > 3000
    for r in rows:
        r["phones"] = "044 000 111"
    good_lat, rows[1999]["lat"] = rows[1999]["lat"], "15,2"  # a decimal comma: row 2000
    before = connection.execute(text("SELECT count(*) FROM change")).scalar_one()
    refused = _import(client, dopa, "dopa", _csv(rows))
    assert refused.status_code == 422, refused.text[:300]
    error = refused.json()["error"]
    assert "nothing was imported" in error["message"] and "row 2000" in error["message"]
    report = error["details"]["report"]
    assert report["written"] is False and report["rows"] == len(rows)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2000, "lat")]
    first = int(rows[0]["id"])
    phones = connection.execute(
        text("SELECT phones FROM service_point WHERE id = :i"), {"i": first}
    ).scalar_one()
    assert phones != ["044 000 111"]
    assert connection.execute(text("SELECT count(*) FROM change")).scalar_one() == before
    # fixed: every row is written, each change in its point's history
    rows[1999]["lat"] = good_lat
    done = _import(client, dopa, "dopa", _csv(rows))
    assert done.status_code == 200, done.text[:300]
    assert done.json()["updated"] == len(rows) and done.json()["written"] is True
    history = client.get(f"/v1/points/{first}/history", headers=dopa).json()["changes"]
    assert history[-1]["field"] == "phones" and history[-1]["new"] == ["044 000 111"]
    assert client.get(f"/v1/points/{first}").json()["provenance"]["phones"] == "real"


NEW = {
    "external_ref": "CM-SC-001",
    "kind": "district_office",
    "name_th": "ศูนย์บริการร่วมนิมมาน",
    "name_en": "Nimman Joint Service Centre",
    "lat": "18.79960",
    "lon": "98.96780",
    "tambon_code": "",
    "postcode": "",
    "phones": "053 222 333;053 222 334",
    "opening_hours": "Mo-Fr 08:30-16:30; PH off",
    "wheelchair": "yes",
}


def test_rows_are_upserted_by_the_agencys_own_id(client, dopa_50) -> None:
    second = {
        **NEW,
        "external_ref": "CM-SC-002",
        "name_th": "ศูนย์บริการร่วมช้างเผือก",
        "name_en": "Chang Phueak Service Centre",
        "lat": "18.80600",
        "lon": "98.98200",
    }
    first = _import(client, dopa_50, "dopa_50", _csv([NEW, second]))
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["updated"]) == (2, 0)
    rows = {r["external_ref"]: r for r in _rows(_export(client, dopa_50, "dopa_50").content)}
    made = rows["CM-SC-001"]
    # the tambon and postcode come from the pin; the agency's fields are real
    assert made["tambon_code"] == "500107" and made["postcode"] == "50300"  # Chang Phueak
    assert made["phones"] == "053 222 333;053 222 334" and made["wheelchair"] == "True"
    assert made["source"] == "imported" and "location" not in made["synthetic"]
    again = _import(
        client, dopa_50, "dopa_50", _csv([{**NEW, "name_en": "Nimman Service Centre"}, second])
    )
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
        0,
        1,
        1,
    )
    point = client.get(f"/v1/points/{made['id']}").json()
    assert point["name_en"] == "Nimman Service Centre" and point["version"] == 2
    # a row carrying the version it was exported at is refused once the point moved on
    stale = _import(
        client,
        dopa_50,
        "dopa_50",
        _csv([{**NEW, "version": made["version"], "name_en": "Late edit"}]),
    )
    assert stale.status_code == 422
    [problem] = stale.json()["error"]["details"]["report"]["errors"]
    assert problem["field"] == "version" and "export again" in problem["message"]
    # closing through a row keeps the point, closed
    closed = _import(
        client, dopa_50, "dopa_50", _csv([{"external_ref": "CM-SC-002", "status": "closed"}])
    )
    assert closed.status_code == 200 and closed.json()["updated"] == 1
    assert client.get(f"/v1/points/{rows['CM-SC-002']['id']}").json()["status"] == "closed"


def test_the_pin_check_judges_every_row(client, dopa_50, connection) -> None:
    # the pin in Chiang Mai, the address in Lamphun's Mueang district
    wrong = {**NEW, "tambon_code": "510101"}
    refused = _import(client, dopa_50, "dopa_50", _csv([wrong]))
    assert refused.status_code == 422
    [problem] = refused.json()["error"]["details"]["report"]["errors"]
    assert (
        problem["row"] == 1 and "510101" in problem["message"] and "override" in problem["message"]
    )
    saved = _import(client, dopa_50, "dopa_50", _csv([wrong]), override="true")
    assert saved.status_code == 200, saved.text
    [overridden] = saved.json()["overridden"]
    assert overridden["row"] == 1 and "outside_tambon" in overridden["flags"]
    admin = _auth(connection, None, "platform_admin")
    queue = client.get("/v1/review", headers=admin).json()["points"]
    assert overridden["point_id"] in [p["id"] for p in queue]
    # two rows pinning one office, and one pin far out at sea (no override excuses that)
    here = {**NEW, "external_ref": "CM-SC-008", "lat": "18.77000", "lon": "98.97000"}
    twin = {**here, "external_ref": "CM-SC-009", "lat": "18.77005"}
    sea = {**NEW, "external_ref": "CM-SC-010", "name_th": "ในทะเล", "lat": "9.0", "lon": "95.0"}
    both = _import(
        client,
        dopa_50,
        "dopa_50",
        _csv([here, twin, sea]),
        override="true",
    )
    errors = both.json()["error"]["details"]["report"]["errors"]
    assert (
        "row 2" in errors[0]["message"]
        and errors[0]["row"] == 1
        and "row 1" in errors[1]["message"]
    )
    assert errors[2]["row"] == 3 and "outside Thailand" in errors[2]["message"]


def test_an_agency_imports_and_exports_only_its_own(client, dopa_50, connection) -> None:
    police = _auth(connection, "rtp_50")
    for r in (
        client.get("/v1/agencies/dopa_50/points", headers=police),
        _import(client, police, "dopa_50", _csv([NEW])),
    ):
        assert r.status_code == 404 and "of yours" in r.json()["error"]["message"]
    assert client.get("/v1/agencies/dopa_50/points").status_code == 401
    other = client.get("/v1/points/nearest?lat=13.75&lon=100.5&k=1").json()["results"][0]["id"]
    rows = [
        {**NEW, "agency": "dopa_10"},  # another province's office
        {**NEW, "external_ref": "X2", "kind": "police_station"},  # not DOPA's kind
        {"id": str(other), "name_en": "Mine now"},  # another agency's point
        {**NEW, "external_ref": "X4", "source": "pinned", "version": ""},  # server fields ignored
    ]
    r = _import(client, dopa_50, "dopa_50", _csv(rows))
    errors = r.json()["error"]["details"]["report"]["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(1, "agency"), (2, "kind"), (3, "id")]
    assert "rtp" in errors[1]["message"] and f"no point {other}" in errors[2]["message"]
    assert client.get(f"/v1/points/{other}").json()["name_en"] != "Mine now"


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"name_th,lat\nA\x00B,1\n", "text/csv", "NUL character"),
        (b"\xff\xfe broken", "text/csv", "not UTF-8"),
        (b"name_th,colour\nx,red\n", "text/csv", "unknown column: colour"),
        (b"", "text/csv", "empty"),
        (
            b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
            b'"geometry":{"type":"Polygon","coordinates":[]}}]}',
            "application/geo+json",
            "a pin is a Point geometry, not Polygon",
        ),
        (
            b"SQLite format 3\x00 truncated",
            "application/geopackage+sqlite3",
            "could not be read as a GeoPackage",
        ),
        (b"a,b\n1,2\n", "application/octet-stream", "say which format"),
        (b"external_ref,lat\nA,18.8\nB,north\n", "text/csv", '"row":2,"field":"lat"'),
    ],
)
def test_a_bad_file_is_a_4xx_that_says_what_to_fix(
    client, dopa_50, body: bytes, content_type: str, says: str
) -> None:
    r = _import(client, dopa_50, "dopa_50", body, content_type)
    assert r.status_code == 422, r.text
    assert says in r.text
    assert tempfile.gettempdir() not in r.text  # no server path in what a caller reads


@pytest.fixture
def small_limit_client(db_url: str, session) -> Iterator[TestClient]:
    settings = get_settings().model_copy(update={"max_import_bytes": 4096})
    with in_transaction(create_app(settings=settings, owner_url=db_url), session) as c:
        yield c


def test_a_file_over_the_limit_is_a_413_before_it_is_read(small_limit_client, dopa_50) -> None:
    big = _csv([NEW] * 40)
    assert len(big) > 4096
    r = _import(small_limit_client, dopa_50, "dopa_50", big)
    assert r.status_code == 413 and r.json()["error"]["details"]["max_bytes"] == 4096

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield from (big[i : i + 1000] for i in range(0, len(big), 1000))

    streamed = small_limit_client.post(
        "/v1/agencies/dopa_50/points:import", content=chunks(), headers={**dopa_50, **CSV}
    )
    assert streamed.status_code == 413
    # the other routes keep their own, smaller limit
    assert (
        small_limit_client.post(
            "/v1/points",
            content=b"x" * 70_000,
            headers={**dopa_50, "Content-Type": "application/json"},
        ).status_code
        == 413
    )


def test_modified_after_gives_what_changed_since(client, dopa_50) -> None:
    rows = _rows(_export(client, dopa_50, "dopa_50").content)
    newest = max(r["updated_at"] for r in rows)
    assert _rows(_export(client, dopa_50, "dopa_50", modified_after=newest).content) == []
    target = rows[5]
    changed = _import(
        client, dopa_50, "dopa_50", _csv([{"id": target["id"], "phones": "053 999 000"}])
    )
    assert changed.status_code == 200 and changed.json()["updated"] == 1
    since = _rows(_export(client, dopa_50, "dopa_50", modified_after=newest).content)
    assert [r["id"] for r in since] == [target["id"]] and since[0]["phones"] == "053 999 000"
    for value, status in (("0.5", 422), ("2026-13-01", 422), ("2200-01-01T00:00", 200)):
        r = client.get(
            "/v1/agencies/dopa_50/points",
            headers=dopa_50,
            params={"modified_after": value, "format": "csv"},
        )
        assert r.status_code == status, (value, r.text)
    # no offset is Bangkok time, as everywhere
    bangkok = dt.datetime.fromisoformat(newest).astimezone(BANGKOK).replace(tzinfo=None)
    local = _export(client, dopa_50, "dopa_50", modified_after=bangkok.isoformat())
    assert [r["id"] for r in _rows(local.content)] == [target["id"]]


def test_the_command_line_imports_with_a_report(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "cm.gpkg"
    exported = subprocess.run(
        [LOCATOR, "export", "dopa_50", "-o", str(out)], env=cli_env, capture_output=True, text=True
    )
    assert exported.returncode == 0, exported.stderr
    assert "points of dopa_50 written" in exported.stderr
    dry = subprocess.run(
        [LOCATOR, "import", str(out), "--agency", "dopa_50", "--dry-run"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "0 new points" in dry.stdout
    assert "checking rows" in dry.stderr  # the progress bar
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv([NEW, {**NEW, "external_ref": "CM-2", "lat": "91"}]))
    refused = subprocess.run(
        [LOCATOR, "import", str(bad), "--agency", "dopa_50"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "nothing was written" in refused.stdout and "lat" in refused.stdout


def test_a_second_import_at_once_is_a_503_with_retry_after(client, dopa_50) -> None:
    import threading

    slots = client.app.state.import_slots = threading.BoundedSemaphore(1)  # type: ignore[attr-defined]
    slots.acquire()  # an import in progress
    try:
        r = _import(client, dopa_50, "dopa_50", _csv([NEW]))
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert "another import is running" in r.json()["error"]["message"]
    finally:
        slots.release()
    assert _import(client, dopa_50, "dopa_50", _csv([NEW]), dry_run="true").status_code == 200
