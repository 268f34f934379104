"""The agencies' door, as agency staff and an attacker meet it: keys, writes scoped to
one's own agency, ETags, the pin check, duplicates, the audit trail, the review queue."""

from __future__ import annotations

import subprocess
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from locator.agencies import accounts, pinning
from locator.errors import PreconditionFailed
from locator.registry.etags import version_etag
from locator.settings import get_settings
from tests.support.cli import LOCATOR

# inside tambon Chang Khlan, Mueang Chiang Mai (500105), postcode 50100
CHANG_KHLAN = {"lat": 18.77504, "lon": 98.99428}
NEW_OFFICE = {
    "kind": "district_office",
    "name_th": "ศูนย์บริการประชาชนช้างคลาน",
    "name_en": "Chang Khlan Service Centre",
    "tambon_code": "500105",
    "postcode": "50100",
    "phones": ["053 111 222"],
    "opening_hours": "Mo-Fr 08:30-16:30; Sa 09:00-12:00; PH off",
    **CHANG_KHLAN,
}


def _key(connection, agency: str | None, role: str = "editor") -> str:
    return accounts.create(connection, f"t{uuid.uuid4().hex[:10]}", agency, role).key


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def dopa(connection) -> dict[str, str]:
    return _auth(_key(connection, "dopa_50"))


@pytest.fixture
def police(connection) -> dict[str, str]:
    return _auth(_key(connection, "rtp_50"))


def _create(client, headers: dict[str, str], **changes: Any) -> Any:
    return client.post("/v1/points", json={**NEW_OFFICE, **changes}, headers=headers)


def test_every_write_needs_a_live_key(client, connection) -> None:
    assert client.post("/v1/points", json=NEW_OFFICE).status_code == 401
    missing = client.post("/v1/points", json=NEW_OFFICE)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    garbage = client.post("/v1/points", json=NEW_OFFICE, headers=_auth("hunter2"))
    assert garbage.status_code == 401 and "not a locator API key" in garbage.text
    forged = "lk_aaaaaaaaaa_" + "A" * 43
    assert client.post("/v1/points", json=NEW_OFFICE, headers=_auth(forged)).status_code == 401
    issued = accounts.create(connection, f"t{uuid.uuid4().hex[:8]}", "dopa_50", "editor")
    rotated = accounts.rotate(connection, issued.account.username)
    old = client.post("/v1/points", json=NEW_OFFICE, headers=_auth(issued.key))
    assert old.status_code == 401 and "revoked" in old.text
    assert _create(client, _auth(rotated.key)).status_code == 201
    accounts.revoke(connection, issued.account.username)
    gone = _create(client, _auth(rotated.key), name_th="อีกแห่ง", lat=18.78)
    assert gone.status_code == 401


def test_a_new_pin_is_real_checked_and_in_its_history(client, dopa) -> None:
    r = _create(client, dopa)
    assert r.status_code == 201, r.text
    point = r.json()["point"]
    assert r.headers["location"] == f"/v1/points/{point['id']}"
    assert r.headers["etag"].startswith('"v1.')
    assert point["source"] == "imported" and point["agency"]["code"] == "dopa_50"
    assert (
        point["tambon_code"] == "500105"
        and point["opening_hours_osm"] == NEW_OFFICE["opening_hours"]
    )
    assert point["provenance"]["location"] == "real" and point["provenance"]["hours"] == "real"
    assert point["provenance"]["no_copy"] == "synthetic"  # no offering stated yet
    history = client.get(f"/v1/points/{point['id']}/history", headers=dopa).json()
    assert [c["action"] for c in history["changes"]] == ["create"]
    assert history["changes"][0]["by"].startswith("t")
    # the public can read the point, and find it
    assert client.get(f"/v1/points/{point['id']}").status_code == 200


def test_a_moved_pin_shows_old_and_new_coordinates(client, dopa) -> None:
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    moved = client.patch(
        f"/v1/points/{point_id}",
        json={"lat": 18.77600, "lon": 98.99500},
        headers={**dopa, "If-Match": tag},
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"].startswith('"v2.')
    assert (moved.json()["point"]["lat"], moved.json()["point"]["lon"]) == (18.776, 98.995)
    changes = client.get(f"/v1/points/{point_id}/history", headers=dopa).json()["changes"]
    by_field = {c["field"]: c for c in changes if c["action"] == "update"}
    assert by_field["lat"]["old"] == pytest.approx(18.77504) and by_field["lat"]["new"] == 18.776
    assert by_field["lon"]["old"] == pytest.approx(98.99428) and by_field["lon"]["new"] == 98.995


def test_edits_need_the_current_etag(client, dopa) -> None:
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    url = f"/v1/points/{point_id}"
    bare = client.patch(url, json={"name_en": "Renamed"}, headers=dopa)
    assert bare.status_code == 428 and "If-Match" in bare.json()["error"]["message"]
    first = client.patch(url, json={"name_en": "Renamed"}, headers={**dopa, "If-Match": tag})
    assert first.status_code == 200
    stale = client.patch(url, json={"name_en": "Again"}, headers={**dopa, "If-Match": tag})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"v2"'
    # the public detail's ETag works for an edit: its version part is what counts
    public = client.get(url)
    again = client.patch(
        url, json={"name_en": "Again"}, headers={**dopa, "If-Match": public.headers["etag"]}
    )
    assert again.status_code == 200 and again.json()["point"]["name_en"] == "Again"


def test_if_match_star_is_no_etag(client, dopa) -> None:
    """``If-Match: *`` names no version: it would let every concurrent edit win."""
    created = _create(client, dopa)
    point_id = created.json()["point"]["id"]
    url = f"/v1/points/{point_id}"
    for star in ("*", " * ", "*, *"):
        r = client.patch(url, json={"name_en": "Blind"}, headers={**dopa, "If-Match": star})
        assert r.status_code == 428, (star, r.text)
        assert "not *" in r.json()["error"]["message"]
    offer = client.put(
        f"{url}/offerings/id_card_renewal",
        json={"copies_required": []},
        headers={**dopa, "If-Match": "*"},
    )
    assert offer.status_code == 428
    assert client.delete(url, headers={**dopa, "If-Match": "*"}).status_code == 428
    assert client.get(url).json()["name_en"] == NEW_OFFICE["name_en"]


def test_a_nul_in_any_written_text_is_a_422_naming_the_field(client, dopa) -> None:
    """PostgreSQL stores no NUL character: one in a body is refused, never a 500 and
    never silently dropped (a rating comment used to lose it)."""
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    url = f"/v1/points/{point_id}"
    nul = "Chang\u0000Khlan"
    attempts = [
        ("PATCH", url, {"name_en": nul}, "name_en"),
        ("PUT", f"{url}/offerings/id_card_renewal", {"copies_required": [], "notes": nul}, "notes"),
        ("POST", f"{url}/ratings", {"score": 4, "comment": nul}, "comment"),
    ]
    for method, path, body, field in attempts:
        # JSON writes the NUL as the escape \\u0000, as a client's library would
        r = client.request(method, path, json=body, headers={**dopa, "If-Match": tag})
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert "NUL" in r.text and field in r.text, r.text
    new = {**NEW_OFFICE, "address_th": "ถนน\u0000ช้างคลาน"}
    r = client.post("/v1/points", json=new, headers=dopa)
    assert r.status_code == 422 and "address_th" in r.text
    assert client.get(url).json()["name_en"] == NEW_OFFICE["name_en"]


def test_another_agencys_points_are_not_there(client, dopa, police, connection) -> None:
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    url = f"/v1/points/{point_id}"
    for method, path, body in (
        ("PATCH", url, {"name_en": "Police now"}),
        ("DELETE", url, None),
        ("PUT", f"{url}/offerings/id_card_renewal", {"copies_required": []}),
        ("GET", f"{url}/history", None),
    ):
        r = client.request(method, path, json=body, headers={**police, "If-Match": tag})
        assert r.status_code == 404, (method, path, r.text)
    # nor the demo registry's real offices of another agency
    real = connection.execute(
        text("SELECT id FROM service_point WHERE external_ref = 'DistrictOffice:5001'")
    ).scalar_one()
    r = client.patch(
        f"/v1/points/{real}", json={"name_en": "x"}, headers={**police, "If-Match": "*"}
    )
    assert r.status_code == 404
    # and police cannot pin a district office
    r = _create(client, police, name_th="ที่ว่าการปลอม")
    assert r.status_code == 403 and "dopa" in r.text
    # the point is unchanged
    assert client.get(url).json()["name_en"] == NEW_OFFICE["name_en"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("agency", "rtp_50"),
        ("agency_id", 1),
        ("source", "pinned"),
        ("version", 99),
        ("provided", ["no_copy"]),
        ("id", 5),
        ("updated_at", "2020-01-01T00:00:00"),
    ],
)
def test_server_fields_in_a_body_are_refused(client, dopa, field: str, value: Any) -> None:
    r = _create(client, dopa, **{field: value})
    assert r.status_code == 422 and field in r.json()["error"]["message"]
    created = _create(client, dopa, name_th="สำนักงานทดสอบ", lat=18.7752)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    r = client.patch(
        f"/v1/points/{point_id}", json={field: value}, headers={**dopa, "If-Match": tag}
    )
    assert r.status_code == 422 and field in r.json()["error"]["message"]


def test_pin_against_address_is_refused_unless_overridden(client, dopa, connection) -> None:
    # an address in Bangkok for a pin in Chiang Mai
    wrong = _create(client, dopa, tambon_code="100101", postcode="10200")
    assert wrong.status_code == 422
    message = wrong.json()["error"]["message"]
    assert "100101" in message and "500105" in message and "override=true" in message
    sea = _create(client, dopa, lat=10.0, lon=101.0, tambon_code=None, postcode=None)
    assert sea.status_code == 422 and "outside Thailand" in sea.text
    bad_postcode = _create(client, dopa, postcode="10200")
    assert bad_postcode.status_code == 422 and "postcode_mismatch" in bad_postcode.text
    forced = client.post(
        "/v1/points",
        params={"override": "true"},
        json={**NEW_OFFICE, "tambon_code": "100101", "postcode": "10200"},
        headers=dopa,
    )
    assert forced.status_code == 201, forced.text
    point_id = forced.json()["point"]["id"]
    assert "outside_tambon" in forced.json()["overridden"]
    history = client.get(f"/v1/points/{point_id}/history", headers=dopa).json()["changes"]
    assert [c["action"] for c in history] == ["create", "override"]
    assert client.get("/v1/review", headers=dopa).status_code == 403
    admin = _auth(_key(connection, None, "platform_admin"))
    queue = client.get("/v1/review", params={"limit": 500}, headers=admin).json()
    assert point_id in [p["id"] for p in queue["points"]]


def test_a_near_duplicate_is_refused_unless_confirmed(client, dopa) -> None:
    first = _create(client, dopa)
    assert first.status_code == 201
    again = _create(client, dopa, lat=CHANG_KHLAN["lat"] + 0.0002)  # about 20 m north
    assert again.status_code == 409
    assert again.json()["error"]["details"]["existing_point_id"] == first.json()["point"]["id"]
    confirmed = client.post(
        "/v1/points",
        params={"confirm_duplicate": "true"},
        json={**NEW_OFFICE, "lat": CHANG_KHLAN["lat"] + 0.0002},
        headers=dopa,
    )
    assert confirmed.status_code == 201


def test_an_office_offers_only_what_its_kind_gives(client, dopa) -> None:
    """A district office cannot be made to answer as a passport or land office."""
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    for service in ("passport_issue", "land_title_transfer"):
        r = client.put(
            f"/v1/points/{point_id}/offerings/{service}",
            json={"copies_required": []},
            headers={**dopa, "If-Match": tag},
        )
        assert r.status_code == 422, (service, r.text)
        assert "district_office" in r.text and "id_card_renewal" in r.text
    found = client.get(
        "/v1/points/nearest", params={**CHANG_KHLAN, "service": "passport_issue", "k": 20}
    ).json()["results"]
    assert point_id not in [p["id"] for p in found]


def test_offer_a_service_with_its_no_copy_status_then_close(client, dopa) -> None:
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    url = f"/v1/points/{point_id}/offerings/birth_registration"
    bad = client.put(url, json={"copies_required": ["passport"]}, headers={**dopa, "If-Match": tag})
    assert bad.status_code == 422 and "passport" in bad.text
    put = client.put(url, json={"copies_required": []}, headers={**dopa, "If-Match": tag})
    assert put.status_code == 200, put.text
    offering = {s["code"]: s for s in put.json()["point"]["services"]}["birth_registration"]
    assert (
        offering["copies_required"] == [] and put.json()["point"]["provenance"]["no_copy"] == "real"
    )
    found = client.get(
        "/v1/points/nearest",
        params={**CHANG_KHLAN, "service": "birth_registration", "no_copy": "true", "k": 3},
    ).json()["results"]
    assert point_id in [p["id"] for p in found]
    closed = client.delete(
        f"/v1/points/{point_id}", headers={**dopa, "If-Match": put.headers["etag"]}
    )
    assert closed.status_code == 200 and closed.json()["point"]["status"] == "closed"
    found = client.get(
        "/v1/points/nearest", params={**CHANG_KHLAN, "service": "birth_registration", "k": 3}
    ).json()["results"]
    assert point_id not in [p["id"] for p in found]


def test_two_concurrent_edits_with_one_etag_exactly_one_wins(engine) -> None:
    """Two transactions really at once: the row lock serialises them, the version decides."""
    settings = get_settings()
    with engine.begin() as conn:
        issued = accounts.create(conn, f"t{uuid.uuid4().hex[:10]}", "dopa_50", "editor")
        made = pinning.create(
            conn,
            settings,
            issued.account,
            {**NEW_OFFICE, "name_th": f"ทดสอบพร้อมกัน {uuid.uuid4().hex[:6]}", "lat": 18.7745},
            confirm_duplicate=True,
        )
    tag = version_etag(made.version)
    outcomes: list[str] = []
    first_locked = threading.Event()

    def edit(name: str, hold: bool) -> None:
        try:
            with engine.begin() as conn:
                pinning.update(
                    conn, settings, issued.account, made.point_id, {"name_en": name}, tag
                )
                if hold:
                    first_locked.set()
                    threading.Event().wait(0.5)  # keep the lock while the other one waits
            outcomes.append("won")
        except PreconditionFailed:
            outcomes.append("412")

    try:
        a = threading.Thread(target=edit, args=("First", True))
        a.start()
        assert first_locked.wait(10)
        b = threading.Thread(target=edit, args=("Second", False))
        b.start()
        a.join(10)
        b.join(10)
        assert sorted(outcomes) == ["412", "won"]
        with engine.connect() as conn:
            name, version = conn.execute(
                text("SELECT name_en, version FROM service_point WHERE id = :id"),
                {"id": made.point_id},
            ).one()
        assert (name, version) == ("First", 2)
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("DELETE FROM change WHERE record_id = :id"), {"id": str(made.point_id)}
            )
            conn.execute(text("DELETE FROM service_point WHERE id = :id"), {"id": made.point_id})


def test_accounts_cli_prints_a_key_once_and_revokes(cli_env: dict[str, str], engine) -> None:
    name = f"cli{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LOCATOR, "accounts", *args], env=cli_env, capture_output=True, text=True, timeout=120
        )

    made = run("create", name, "--agency", "dopa_50", "--role", "editor")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert accounts.KEY_PATTERN.match(key)
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT k.key_hash FROM api_key k JOIN account a ON a.id = k.account_id "
                "WHERE a.username = :u"
            ),
            {"u": name},
        ).scalar_one()
        assert key not in stored and len(stored) == 64  # only the hash is kept
        assert accounts.authenticate(conn, key).username == name
    listed = run("list", "--agency", "dopa_50")
    assert name in listed.stdout and key not in listed.stdout
    rotated = run("rotate", name)
    new_key = rotated.stdout.strip().splitlines()[-1]
    assert new_key != key
    with engine.connect() as conn:
        with pytest.raises(Exception, match="revoked"):
            accounts.authenticate(conn, key)
        assert accounts.authenticate(conn, new_key).username == name
    assert run("revoke", name).returncode == 0
    with engine.connect() as conn, pytest.raises(Exception, match="revoked"):
        accounts.authenticate(conn, new_key)
    assert run("create", name, "--agency", "dopa_50").returncode == 2  # taken
    bad = run("create", "x" + name, "--agency", "nowhere")
    assert bad.returncode == 2 and "nowhere" in bad.stderr


def test_me_names_the_account_its_role_and_agency(client, dopa, connection) -> None:
    me = client.get("/v1/me", headers=dopa)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["role"] == "editor" and body["agency"]["code"] == "dopa_50"
    assert body["agency"]["name_th"] and body["agency"]["name_en"]
    assert client.get("/v1/me").status_code == 401
    admin = _auth(_key(connection, None, "platform_admin"))
    assert client.get("/v1/me", headers=admin).json()["agency"] is None


def test_a_dry_run_checks_like_a_save_and_saves_nothing(client, dopa) -> None:
    trial = client.post("/v1/points?dry_run=true", json=NEW_OFFICE, headers=dopa)
    assert trial.status_code == 200, trial.text
    assert trial.json()["dry_run"] is True and "etag" not in trial.headers
    would_be = trial.json()["point"]["id"]
    assert client.get(f"/v1/points/{would_be}").status_code == 404
    created = _create(client, dopa)
    point_id, tag = created.json()["point"]["id"], created.headers["etag"]
    url = f"/v1/points/{point_id}"
    headers = {**dopa, "If-Match": tag}
    # a move into Lamphun province, the address still in Chiang Mai: the verdict, unsaved
    far = client.patch(
        f"{url}?dry_run=true",
        json={"lat": 18.5790, "lon": 99.0087, "tambon_code": "500105"},
        headers=headers,
    )
    assert far.status_code == 422 and "wrong_province" in far.text
    near = client.patch(f"{url}?dry_run=true", json={"lat": 18.7760}, headers=headers)
    assert near.status_code == 200 and near.json()["point"]["lat"] == 18.776
    assert near.json()["point"]["version"] == 2 and near.json()["dry_run"] is True
    after = client.get(url)
    assert after.json()["lat"] == pytest.approx(18.77504) and after.json()["version"] == 1
    history = client.get(f"{url}/history", headers=dopa).json()["changes"]
    assert [c["action"] for c in history] == ["create"]
    # the unchanged ETag still saves
    assert client.patch(url, json={"lat": 18.7760}, headers=headers).status_code == 200
