"""An agency's pinning progress (issue 12 item 7), as an agency meets it: over HTTP and on
the command line, checked against counts computed here in SQL of their own (the agency
with its sub-agencies by a recursive walk of ``agency.parent_id``, "needs review" as an
unresolved ``qa_flag``)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.api.schemas import AgencyProgress
from tests.support.cli import LOCATOR

BELOW = (
    "WITH RECURSIVE down AS (SELECT id FROM agency WHERE code = :code "
    "UNION ALL SELECT a.id FROM agency a JOIN down ON a.parent_id = down.id) "
)
REAL = "(p.source IN ('pinned', 'imported') OR 'location' = ANY(p.provided))"
FLAGGED = "EXISTS (SELECT 1 FROM qa_flag q WHERE q.point_id = p.id AND q.resolved_at IS NULL)"


def expected(session: Session, code: str, province: str | None = None) -> dict[str, int]:
    """The three counts, independently of locator.analysis.agency_progress."""
    where = "p.agency_id IN (SELECT id FROM down) AND p.status <> 'closed'"
    if province is not None:
        where += " AND left(p.tambon_code, 2) = :province"
    row = session.execute(
        text(
            BELOW + "SELECT count(*), count(*) FILTER (WHERE " + REAL + "), "
            "count(*) FILTER (WHERE " + REAL + " AND NOT " + FLAGGED + ") "
            "FROM service_point p WHERE " + where
        ),
        {"code": code, "province": province},
    ).one()
    return {"target": row[0], "pinned": row[1], "validated": row[2]}


def get_progress(client: TestClient, code: str) -> dict[str, Any]:
    response = client.get(f"/v1/agencies/{code}/progress")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    AgencyProgress.model_validate(body)  # the documented shape
    return body


def counts_of(entry: dict[str, Any]) -> dict[str, int]:
    return {k: entry[k] for k in ("target", "pinned", "validated")}


def test_dopa_counts_its_provincial_offices_and_the_pin_checks_findings(
    client: TestClient, session: Session
) -> None:
    body = get_progress(client, "dopa")
    assert body["agency"]["code"] == "dopa" and body["level"] == "department"
    total = body["total"]
    assert counts_of(total) == expected(session, "dopa")
    # 926 district offices and 76 province halls, real; 39,000 headman offices, generated
    assert total["target"] == 40_002 and total["pinned"] == 926 + 76
    district_offices = session.execute(
        text(
            BELOW + "SELECT count(*) FROM service_point p WHERE p.agency_id IN "
            "(SELECT id FROM down) AND p.kind = 'district_office' AND p.source = 'pinned'"
        ),
        {"code": "dopa"},
    ).scalar_one()
    assert district_offices == 926
    flagged = session.execute(
        text(
            BELOW + "SELECT count(*) FROM service_point p WHERE p.agency_id IN "
            f"(SELECT id FROM down) AND p.status <> 'closed' AND {REAL} AND {FLAGGED}"
        ),
        {"code": "dopa"},
    ).scalar_one()
    assert flagged >= 1  # a real DOPA office the pin check flagged
    assert total["validated"] == total["pinned"] - flagged
    assert total["pinned_share"] == round(total["pinned"] / total["target"], 4)
    assert total["validated_share"] == round(total["validated"] / total["target"], 4)
    # by province: every province's row adds up to the total, each checked in SQL
    rows = body["by_province"]
    assert len(rows) == 77 and [r["code"] for r in rows] == sorted(r["code"] for r in rows)
    for key in ("target", "pinned", "validated"):
        assert sum(r[key] for r in rows) == total[key]
    bangkok = next(r for r in rows if r["code"] == "10")
    # the 50 khet offices, all real, none flagged; no village headmen in Bangkok
    assert bangkok["name_en"] == "Bangkok" and bangkok["name_th"] == "กรุงเทพมหานคร"
    assert counts_of(bangkok) == expected(session, "dopa", "10")
    assert counts_of(bangkok) == {"target": 50, "pinned": 50, "validated": 50}
    assert bangkok["pinned_share"] == 1.0
    chiang_mai = next(r for r in rows if r["code"] == "50")
    assert counts_of(chiang_mai) == expected(session, "dopa", "50")


def test_police_have_no_pinned_station(client: TestClient, session: Session) -> None:
    body = get_progress(client, "rtp")
    assert body["total"] == {
        "target": 1_484, "pinned": 0, "validated": 0, "pinned_share": 0.0,
        "validated_share": 0.0,
    }  # fmt: skip
    assert counts_of(body["total"]) == expected(session, "rtp")
    bangkok = next(r for r in body["by_province"] if r["code"] == "10")
    assert bangkok["target"] == 88  # the metropolitan police stations


def test_dla_includes_its_local_governments(client: TestClient, session: Session) -> None:
    total = get_progress(client, "dla")["total"]
    assert counts_of(total) == expected(session, "dla")
    assert total["target"] == total["pinned"] == 4_264  # every TAO and municipality is real
    assert 0 < total["validated"] < total["pinned"]  # the mis-addressed TAOs, the duplicates


def test_a_provincial_office_is_one_province_of_its_department(client: TestClient) -> None:
    office = get_progress(client, "dopa_50")
    assert office["level"] == "provincial_office"
    assert [r["code"] for r in office["by_province"]] == ["50"]
    department = get_progress(client, "dopa")
    chiang_mai = next(r for r in department["by_province"] if r["code"] == "50")
    assert counts_of(office["total"]) == counts_of(chiang_mai)


def test_the_counts_follow_the_registry(client: TestClient, session: Session) -> None:
    """The three definitions, one change each: a resolved flag validates a pin, a location
    the agency provided pins a generated point, a closed office leaves the target."""
    before = get_progress(client, "dopa")["total"]
    flagged_point = session.execute(
        text(
            BELOW + "SELECT p.id FROM service_point p WHERE p.agency_id IN (SELECT id FROM down) "
            f"AND {FLAGGED} AND p.status <> 'closed' ORDER BY p.id LIMIT 1"
        ),
        {"code": "dopa"},
    ).scalar_one()
    session.execute(
        text("UPDATE qa_flag SET resolved_at = now() WHERE point_id = :id"), {"id": flagged_point}
    )
    after = get_progress(client, "dopa")["total"]
    assert after["validated"] == before["validated"] + 1
    assert after["pinned"] == before["pinned"]

    station = session.execute(
        text(
            BELOW + "SELECT p.id FROM service_point p WHERE p.agency_id IN (SELECT id FROM down) "
            "AND p.status = 'active' ORDER BY p.id LIMIT 1"
        ),
        {"code": "rtp"},
    ).scalar_one()
    session.execute(
        text(
            "UPDATE service_point SET provided = array_append(provided, 'location') WHERE id = :id"
        ),
        {"id": station},
    )
    police = get_progress(client, "rtp")["total"]
    assert counts_of(police) == {"target": 1_484, "pinned": 1, "validated": 1}

    session.execute(
        text("UPDATE service_point SET status = 'closed' WHERE id = :id"), {"id": station}
    )
    police = get_progress(client, "rtp")["total"]
    assert counts_of(police) == {"target": 1_483, "pinned": 0, "validated": 0}


def test_an_unknown_agency_is_a_404_naming_it(client: TestClient) -> None:
    response = client.get("/v1/agencies/no_such_agency/progress")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "no_such_agency" in error["message"] and "dopa" in error["message"]
    # not a code at all: the parameter's pattern says so
    response = client.get("/v1/agencies/DOPA!/progress")
    assert response.status_code == 422
    assert "code" in response.json()["error"]["message"]


def test_stats_give_the_no_copy_share_per_province(client: TestClient, session: Session) -> None:
    body = client.get("/v1/stats").json()
    provinces = body["by_province"]
    assert sum(p["offerings"] for p in provinces.values()) == body["offerings"]
    assert sum(p["no_copy_offerings"] for p in provinces.values()) == body["no_copy_offerings"]
    offerings, no_copy = session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE cardinality(o.copies_required) = 0) "
            "FROM offering o JOIN service_point p ON p.id = o.point_id "
            "WHERE left(p.tambon_code, 2) = '10'"
        )
    ).one()
    bangkok = provinces["10"]
    assert bangkok["offerings"] == offerings and bangkok["no_copy_offerings"] == no_copy
    assert bangkok["no_copy_share"] == round(no_copy / offerings, 4)
    shares = [p["no_copy_share"] for p in provinces.values()]
    assert all(0 < s < 1 for s in shares) and max(shares) - min(shares) > 0.1  # a story
    # the keys that were there before are still there
    assert {"points", "real", "generated", "by_kind", "name_en", "name_th"} <= set(bangkok)


def run(cli_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOCATOR, "progress", *args], env=cli_env, capture_output=True, text=True, timeout=300
    )


def test_cli_prints_an_agencys_table_and_json(cli_env: dict[str, str], client: TestClient) -> None:
    done = run(cli_env, "dopa")
    assert done.returncode == 0, done.stderr
    assert "Pinning progress: dopa" in done.stdout
    bangkok = next(line for line in done.stdout.splitlines() if " Bangkok " in line)
    assert "50" in bangkok and "100.0%" in bangkok
    total = next(line for line in done.stdout.splitlines() if "total" in line)
    assert "40,002" in total and "1,002" in total

    done = run(cli_env, "dopa", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    AgencyProgress.model_validate(data)
    assert data == client.get("/v1/agencies/dopa/progress").json()


def test_cli_without_an_agency_shows_every_department(cli_env: dict[str, str]) -> None:
    done = run(cli_env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for code, target in (("dopa", "40,002"), ("dla", "4,264"), ("rtp", "1,484")):
        (line,) = [ln for ln in lines if ln.startswith(f"│ {code} ")]  # one line each
        assert target in line
    done = run(cli_env, "--json")
    data = json.loads(done.stdout)
    by_code = {d["agency"]["code"]: d["total"] for d in data}
    assert by_code["moph_ops"]["pinned"] == 0 and by_code["moph_ops"]["target"] > 10_000
    assert "dopa_50" not in by_code and "moi" not in by_code  # departments only


def test_cli_names_an_unknown_agency(cli_env: dict[str, str]) -> None:
    done = run(cli_env, "no_such_agency")
    assert done.returncode == 2
    assert "no_such_agency" in done.stderr and done.stdout == ""
