"""Thai names split by their tone marks are searched through the index (issue 20, item 6).

In the database's locale the trigram index reads a tone mark as a space: "น่าน" (Nan) is
"น" and "าน", no trigram at all, so the bound on searches refused it along with three
tone marks alone. Names and queries are now matched with the tone marks folded out:
"น่าน" is "นาน", three letters the index looks up, and a wrong tone mark still finds the
name. Points a test adds are rolled back with its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

NINE = "ศาลาเก้าห้อง"
"""A name (a pavilion of nine rooms) searched for as "เก้า ห้อง": each word is two letters,
a tone mark and one more (nothing the unfolded index could look up), the pair is no
place the gazetteer knows (it knows most Thai words: "เฒ่า" is in ขามเฒ่า) and it is in
few names ("เก้า" alone, folded, is in more names than a search ranks)."""


def _search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/points/search", params={"q": q, "limit": 50, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _add_point(session: Session, name_th: str, name_en: str, tambon: str) -> int:
    """A point named ``name_th`` inside tambon ``tambon``, gone when the test ends."""
    return int(
        session.execute(
            text(
                "INSERT INTO service_point (agency_id, kind, name_th, name_en, geog, "
                "  tambon_code, source, opening_hours) "
                "SELECT (SELECT id FROM agency ORDER BY id LIMIT 1), 'tao_office', :th, :en, "
                "  ST_PointOnSurface(a.geom)::geography, a.code, 'imported', '{}'::jsonb "
                "FROM admin_area a WHERE a.code = :tambon RETURNING id"
            ),
            {"th": name_th, "en": name_en, "tambon": tambon},
        ).scalar_one()
    )


def test_nan_written_with_its_tone_mark_answers_the_province(client: TestClient) -> None:
    body = _search(client, "น่าน")
    assert body["places"] and body["places"][0]["code"] == "55", body["places"]
    assert body["results"]
    for r in body["results"][:5]:
        detail = client.get(f"/v1/points/{r['id']}").json()
        assert str(detail["tambon_code"]).startswith("55"), detail


@pytest.mark.parametrize("q", ["แม่สา", "แม้สา", "แมสา"])  # as written, a wrong mark, none
def test_mae_sa_is_found_whatever_its_tone_mark(
    client: TestClient, session: Session, q: str
) -> None:
    point = _add_point(session, "องค์การบริหารส่วนตำบลแม่สาทดสอบ", "Mae Sa test TAO", "500709")
    body = _search(client, q)
    assert point in [r["id"] for r in body["results"]], [r["name_th"] for r in body["results"]]


@pytest.mark.parametrize("q", ["เก้า ห้อง", "เก๊า ห้อง", "เกา หอง"])
def test_a_name_split_by_tone_marks_is_found_by_name(
    client: TestClient, session: Session, q: str
) -> None:
    point = _add_point(session, NINE, "Nine-room pavilion test", "100101")
    body = _search(client, q)
    assert body["places"] == [], body["places"]  # found by its name, not as a place
    ids = [r["id"] for r in body["results"]]
    assert point in ids, [r["name_th"] for r in body["results"]]


def test_the_name_as_typed_ranks_before_other_tone_marks(
    client: TestClient, session: Session
) -> None:
    """Folding forgives a wrong tone mark; the name spelt as typed still comes first."""
    longer = _add_point(session, NINE + "ยาว", "Nine-room pavilion test 2", "100101")
    other = _add_point(session, "ศาลาเก๊าห้อง", "Nine-room pavilion test 3", "100101")
    ids = [r["id"] for r in _search(client, "เก้า ห้อง")["results"]]
    assert ids.index(longer) < ids.index(other)
    ids = [r["id"] for r in _search(client, "เก๊า ห้อง")["results"]]
    assert ids.index(other) < ids.index(longer)


@pytest.mark.parametrize("q", ["\u0e48\u0e48\u0e48", "แม่", "ป่า"])
def test_tone_marks_with_fewer_than_three_letters_are_still_refused(
    client: TestClient, q: str
) -> None:
    response = client.get("/v1/points/search", params={"q": q})
    assert response.status_code == 422, response.text


@pytest.fixture
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements the test's transaction runs, with their parameters."""
    seen: list[tuple[str, Any]] = []
    connection = session.connection()

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    yield seen
    event.remove(connection, "before_cursor_execute", record)


@pytest.mark.parametrize("q", ["เก้า ห้อง", "ที่ว่าการอำเภอเมืองน่าน"])
def test_the_search_looks_thai_names_up_in_the_folded_index(
    client: TestClient, session: Session, statements: list[tuple[str, Any]], q: str
) -> None:
    _add_point(session, NINE, "Nine-room pavilion test", "100101")
    _search(client, q)
    searched, params = next(s for s in statements if "locator_fold_th(p.name_th) ILIKE" in s[0])
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute("EXPLAIN " + searched, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ix_service_point_name_th_fold_trgm" in plan, plan
