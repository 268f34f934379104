"""The agency page at /agency, driven in a real headless Chromium against a real server.

Agency staff pin on a map, not with curl: these tests are what they meet. They sign in
with an API key (a bad one is refused), see their agency's points and a QA-flagged one
on the map, move a pin and read the pin check's verdict before saving (a good move, and
a move into another province refused naming both provinces, then overridden), change a
service's No-Copy status, read the history with old and new coordinates, check a bulk
file with a bad row (nothing written) and import it fixed, download the export, meet a
stale ETag and a duplicate, and a key revoked mid-session sends them back to sign in; an
account of another agency cannot open or edit the point (404, shown plainly).

The server is the session's ``locator serve`` (``live_server``), which sees only
committed rows: the accounts and the points the tests work on are committed here (the
points through the API itself) and deleted again when the module ends. The browser is
tests/support/browser.py's: every request that would leave the machine is blocked, and no
request may carry the key in its address. Screenshots go to tests/output/agency-*.png.
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from locator.agencies import accounts
from tests.support.browser import STATIC, Tab, needs_chromium
from tests.support.web_a11y import assert_accessible

pytestmark = needs_chromium

# inside tambon Chang Khlan, Mueang Chiang Mai (500105, postcode 50100): a few hundred
# metres around it stay in that tambon
CHANG_KHLAN = (18.77504, 98.99428)
LAMPHUN = (18.5786, 99.0087)  # Lamphun town: another province (51), postcode 51000
AGENCY = "dopa_50"  # DOPA Chiang Mai
OTHER_AGENCY = "rtp_50"  # the police of Chiang Mai
AXE = importlib.util.find_spec("axe_playwright_python") is not None


@dataclass(frozen=True)
class Account:
    username: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="module")
def created(engine: Engine) -> Iterator[list[int]]:
    """Ids of the points the tests commit; deleted with their change log at the end."""
    ids: list[int] = []
    yield ids
    if ids:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM change WHERE table_name = 'service_point' "
                    "AND record_id = ANY(:ids)"
                ),
                {"ids": [str(i) for i in ids]},
            )
            conn.execute(text("DELETE FROM service_point WHERE id = ANY(:ids)"), {"ids": ids})


@pytest.fixture(scope="module")
def staff(engine: Engine, created: list[int]) -> Iterator[dict[str, Account]]:
    """Editors of DOPA Chiang Mai (one of them about to leave) and of the Chiang Mai
    police, committed (the server is another process); removed again, with anything they
    wrote."""
    made: dict[str, Account] = {}
    with engine.begin() as conn:
        for who, agency in (("dopa", AGENCY), ("police", OTHER_AGENCY), ("leaver", AGENCY)):
            name = f"web-{who}-{uuid.uuid4().hex[:8]}"
            made[who] = Account(name, accounts.create(conn, name, agency, "editor").key)
    yield made
    with engine.begin() as conn:
        names = [a.username for a in made.values()]
        ids = conn.execute(
            text("SELECT id FROM account WHERE username = ANY(:n)"), {"n": names}
        ).scalars()
        ids = list(ids)
        # points the page or an import created (the `created` list holds the tests' own)
        points = conn.execute(
            text(
                "SELECT DISTINCT record_id FROM change WHERE account_id = ANY(:a) "
                "AND table_name = 'service_point' AND action = 'create'"
            ),
            {"a": ids},
        ).scalars()
        created.extend(int(p) for p in points if int(p) not in created)
        conn.execute(text("DELETE FROM change WHERE account_id = ANY(:a)"), {"a": ids})
        conn.execute(text("DELETE FROM account WHERE id = ANY(:a)"), {"a": ids})


def _new_point(
    api: httpx.Client, who: Account, created: list[int], **changes: Any
) -> dict[str, Any]:
    """A point of the agency's, pinned through the API (as another colleague would)."""
    tag = uuid.uuid4().hex[:6]
    body = {
        "kind": "district_office",
        "name_th": f"ศูนย์บริการทดสอบ {tag}",
        "name_en": f"Test service centre {tag}",
        "lat": CHANG_KHLAN[0],
        "lon": CHANG_KHLAN[1],
        "phones": ["053 111 222"],
        "opening_hours": "Mo-Fr 08:30-16:30; PH off",
        **changes,
    }
    params = {"override": "true"} if changes.get("tambon_code") else None
    r = api.post("/v1/points", json=body, params=params, headers=who.auth)
    assert r.status_code == 201, r.text
    point = r.json()["point"]
    created.append(point["id"])
    return dict(point, etag=r.headers["etag"])


# --------------------------------------------------------------------------- helpers
def _sign_in(tab: Tab, key: str) -> None:
    page = tab.page
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")  # the keyboard: the form submits
    page.wait_for_selector("body[data-state='signed-in'][data-points]", state="attached")


def _open_point(tab: Tab, point_id: int) -> None:
    """Type the id into "open a point by its id" (keyboard only)."""
    page = tab.page
    if page.is_visible("#back"):
        page.click("#back")
    page.fill("#open-id", str(point_id))
    page.press("#open-id", "Enter")
    page.wait_for_selector(
        "body[data-state='point'], body[data-state='point-error']", state="attached"
    )


def _no_key_in_addresses(tab: Tab, *keys: str) -> None:
    for url in tab.requests:
        for key in keys:
            assert key not in url and key.split("_")[1] not in url, url


def _drag_pin(tab: Tab, dx: float, dy: float) -> None:
    page = tab.page
    box = page.locator(".pin-marker").bounding_box()
    assert box is not None
    x, y = box["x"] + 15, box["y"] + 33  # the pin's tip
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


def _verdict(tab: Tab) -> str:
    page = tab.page
    page.wait_for_selector(
        "#verdict[data-verdict]:not([data-verdict='checking'])", state="attached"
    )
    return str(page.get_attribute("#verdict", "data-verdict"))


def _history(tab: Tab) -> list[dict[str, str]]:
    return list(
        tab.page.eval_on_selector_all(
            "#history .change",
            """rows => rows.map(r => ({field: r.dataset.field, action: r.dataset.action,
                 by: r.querySelector('.by').textContent,
                 old: (r.querySelector('.old') || {}).textContent,
                 new: r.querySelector('.new').textContent}))""",
        )
    )


def _accessible(page: Any, state: str) -> None:
    """axe-core's WCAG 2.1 AA rules, where the package is installed (as test_web)."""
    if AXE:
        assert_accessible(page, state)


def _status(tab: Tab) -> str:
    return str(tab.page.inner_text("#status"))


# --------------------------------------------------------------------------- the page itself
def test_the_page_is_served_as_strictly_as_the_citizen_page(api: httpx.Client) -> None:
    r = api.get("/agency")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["default-src"] == "'none'"
    assert csp["connect-src"] == "'self'"
    html = r.text
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/static/' in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"__[A-Z_]+__", html), "a template placeholder was left in"
    versioned = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]{12})"', html)
    assert {u.split("?")[0] for u in versioned} == {
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet/leaflet.js",
        "/static/app.css",
        "/static/agency.css",
        "/static/dom.js",
        "/static/agency.js",
    }
    for url in versioned:
        assert "immutable" in api.get(url).headers["cache-control"], url
    assert api.get("/agency", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    # the key field is a password field, in a form that never puts it in an address
    assert re.search(r'<input type="password" id="api-key"', html)
    assert re.search(r'<form id="signin"[^>]*method="post"', html)


def test_agency_js_never_writes_html_nor_puts_the_key_in_an_address() -> None:
    source = (STATIC / "agency.js").read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "DOMParser", "createContextualFragment", "bindPopup(",
                 "setContent(", "localStorage"):  # fmt: skip
        assert sink not in code, f"agency.js uses {sink}"
    for call in re.findall(r"html:\s*([^,\n]+)", code):
        assert call.strip().startswith("h("), call
    # the key goes into one header and sessionStorage, nowhere else
    assert code.count("state.key") >= 1
    assert re.findall(r"\"Bearer \" \+ (\w+)", code) == ["key"]
    assert 'searchParams.set("key"' not in code and "access_token" not in code


# --------------------------------------------------------------------------- signing in
def test_a_bad_key_is_refused_and_a_good_one_signs_in_and_out(
    open_tab: Callable[..., Tab], staff: dict[str, Account], output_dir: Path
) -> None:
    tab = open_tab("/agency")
    page = tab.page
    assert page.get_attribute("#api-key", "type") == "password"
    page.fill("#api-key", "lk_aaaaaaaaaa_" + "A" * 43)
    page.click("#signin-go")
    page.wait_for_selector("#status.status-error", state="attached")
    status = _status(tab)
    assert "กุญแจนี้ใช้ไม่ได้" in status and "This key is not accepted" in status
    assert page.get_attribute("#api-key", "aria-invalid") == "true"
    assert page.is_visible("#signin") and not page.is_visible("#who")
    assert page.evaluate("sessionStorage.length") == 0
    page.screenshot(path=str(output_dir / "agency-bad-key.png"))
    _accessible(page, "a refused key")

    dopa = staff["dopa"]
    _sign_in(tab, dopa.key)
    who = page.inner_text("#who")
    assert dopa.username in who and "editor" in who
    assert "กรมการปกครอง จังหวัดเชียงใหม่" in who
    assert "Department of Provincial Administration, Chiang Mai" in who
    assert page.input_value("#api-key") == ""  # not left in the form
    assert page.evaluate("sessionStorage.getItem('locator.agency.key')") == dopa.key
    # a reload keeps the tab signed in (sessionStorage), the address never holds the key
    page.reload()
    page.wait_for_selector("body[data-state='signed-in'][data-points]", state="attached")
    assert dopa.username in page.inner_text("#who")
    page.click("#signout")
    assert page.is_visible("#signin") and not page.is_visible("#list-view")
    assert page.evaluate("sessionStorage.length") == 0
    assert "Signed out" in _status(tab)
    _no_key_in_addresses(tab, dopa.key)
    assert tab.errors_except_http_status() == [] and tab.blocked == []


def test_a_key_revoked_mid_session_sends_you_back_to_sign_in(
    open_tab: Callable[..., Tab], engine: Engine, staff: dict[str, Account]
) -> None:
    leaver = staff["leaver"]
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, leaver.key)
    with engine.begin() as conn:
        accounts.revoke(conn, leaver.username)
    page.fill("#filter", "")
    page.locator("#points > li button").first.click()
    page.wait_for_selector("body[data-state='signed-out']", state="attached")
    status = _status(tab)
    assert "กรุณาเข้าสู่ระบบอีกครั้ง" in status and "please sign in again" in status
    assert page.is_visible("#signin") and not page.is_visible("#details-view")
    assert page.evaluate("sessionStorage.length") == 0
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- the map
def test_the_agencys_points_and_a_flagged_one_on_the_map(
    open_tab: Callable[..., Tab],
    api: httpx.Client,
    staff: dict[str, Account],
    created: list[int],
    output_dir: Path,
) -> None:
    dopa = staff["dopa"]
    # a colleague pinned an office against its address (a Bangkok tambon), overriding
    flagged = _new_point(api, dopa, created, tambon_code="100101", postcode="10200")
    export = api.get(f"/v1/agencies/{AGENCY}/points", params={"format": "geojson"},
                     headers=dopa.auth).json()  # fmt: skip
    features = {f["properties"]["id"]: f["properties"] for f in export["features"]}
    assert features[flagged["id"]]["qa_flags"], "the override left no QA flag"
    generated = next(p for p in features.values() if p["source"] == "generated")
    real = next(p for p in features.values() if p["source"] == "pinned" and p["synthetic"])

    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    assert page.get_attribute("body", "data-points") == str(len(features))
    # drawn on a canvas: no DOM marker per point
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    assert page.locator(".leaflet-marker-pane .leaflet-marker-icon").count() == 0
    flagged_count = sum(1 for p in features.values() if p["qa_flags"])
    assert page.get_attribute(".sum-flagged", "data-count") == str(flagged_count)

    # the QA-flagged filter lists the flagged point, its flag named in both languages
    page.check("#flagged-only")
    ids = page.eval_on_selector_all("#points > li", "ls => ls.map(l => Number(l.dataset.id))")
    assert flagged["id"] in ids and all(features[i]["qa_flags"] for i in ids)
    item = page.locator(f"#points > li[data-id='{flagged['id']}']")
    assert "หมุดอยู่นอกตำบลตามที่อยู่" in item.inner_text()
    assert "pin outside the address's tambon" in item.inner_text()
    page.screenshot(path=str(output_dir / "agency-points.png"))
    _accessible(page, "the agency's points")

    # a generated point says so wherever it is shown
    page.uncheck("#flagged-only")
    page.fill("#filter", str(generated["id"]))
    gen_item = page.locator(f"#points > li[data-id='{generated['id']}']")
    assert "ข้อมูลจำลอง" in gen_item.inner_text() and "Generated" in gen_item.inner_text()
    gen_item.locator("button").click()
    page.wait_for_selector("body[data-state='point']", state="attached")
    assert page.locator("#details .badge-generated").count() == 1
    assert page.get_attribute("#details .generated-note", "data-source") == "generated"
    assert page.locator("#details [data-generated='phones']").count() >= 1

    # a real office's made-up values are named in the list and beside the fields
    page.click("#back")
    page.fill("#filter", str(real["id"]))
    made_up = page.locator(f"#points > li[data-id='{real['id']}'] .badge-synthetic")
    assert "phones" in (made_up.get_attribute("data-synthetic") or "")
    assert "generated: phones" in made_up.inner_text() and "จำลอง: เบอร์โทร" in made_up.inner_text()

    # the flagged point: its flag in the header
    page.fill("#filter", "")
    page.check("#flagged-only")
    item.locator("button").click()
    page.wait_for_selector("body[data-state='point']", state="attached")
    assert page.locator("#details .d-head .badge-flag").count() >= 1
    assert "awaiting review" in page.inner_text("#details .flag-note")
    page.screenshot(path=str(output_dir / "agency-flagged.png"))
    _no_key_in_addresses(tab, dopa.key)
    assert tab.console_errors == [] and tab.blocked == []


# --------------------------------------------------------------------------- moving a pin
def test_a_good_move_is_checked_before_it_is_saved_and_in_the_history(
    open_tab: Callable[..., Tab],
    api: httpx.Client,
    staff: dict[str, Account],
    created: list[int],
    output_dir: Path,
) -> None:
    dopa = staff["dopa"]
    point = _new_point(api, dopa, created)
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    _open_point(tab, point["id"])
    assert page.locator(".pin-marker").count() == 1

    patches: list[str] = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
    _drag_pin(tab, 16, -12)  # ~150 m at zoom 14: still in Chang Khlan
    assert _verdict(tab) == "ok", page.inner_text("#verdict")
    verdict = page.inner_text("#verdict")
    assert "ตำแหน่งนี้ผ่านการตรวจหมุด" in verdict and "The pin check passes" in verdict
    assert "Chiang Mai province" in verdict and "จังหวัดเชียงใหม่" in verdict
    assert patches and all("dry_run=true" in u for u in patches)
    new_lat, new_lon = float(page.input_value("#pin-lat")), float(page.input_value("#pin-lon"))
    assert (new_lat, new_lon) != CHANG_KHLAN
    # nothing written yet
    assert api.get(f"/v1/points/{point['id']}").json()["version"] == 1
    page.screenshot(path=str(output_dir / "agency-move-ok.png"))
    _accessible(page, "a point with the pin check's verdict")

    page.click("#pin-save")
    page.wait_for_selector("#status.status-ok", state="attached")
    assert "The pin is saved" in _status(tab)
    saved = api.get(f"/v1/points/{point['id']}").json()
    assert (saved["lat"], saved["lon"]) == (new_lat, new_lon) and saved["version"] == 2
    assert [u for u in patches if "dry_run" not in u], "no real PATCH was sent"

    # the history: who, and the old and new coordinates
    history = {h["field"]: h for h in _history(tab) if h["action"] == "update"}
    assert float(history["lat"]["old"]) == pytest.approx(CHANG_KHLAN[0])
    assert float(history["lat"]["new"]) == new_lat
    assert float(history["lon"]["old"]) == pytest.approx(CHANG_KHLAN[1])
    assert float(history["lon"]["new"]) == new_lon
    assert history["lat"]["by"] == dopa.username
    page.locator("#history").scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir / "agency-history.png"))
    _no_key_in_addresses(tab, dopa.key)
    assert tab.console_errors == [] and tab.blocked == []


def test_a_move_into_another_province_is_refused_naming_both_then_overridden(
    open_tab: Callable[..., Tab],
    api: httpx.Client,
    staff: dict[str, Account],
    created: list[int],
    output_dir: Path,
) -> None:
    dopa = staff["dopa"]
    point = _new_point(api, dopa, created)
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    _open_point(tab, point["id"])

    # typed, for keyboard users: the same check as a drag
    page.fill("#pin-lat", str(LAMPHUN[0]))
    page.fill("#pin-lon", str(LAMPHUN[1]))
    page.press("#pin-lon", "Enter")
    assert _verdict(tab) == "refused"
    verdict = page.inner_text("#verdict")
    assert "หมุดกับที่อยู่ไม่ตรงกัน" in verdict and "The pin and the address disagree" in verdict
    address = page.inner_text("#verdict .place-address")
    pin = page.inner_text("#verdict .place-pin")
    assert "จังหวัดเชียงใหม่" in address and "Chiang Mai" in address
    assert "จังหวัดลำพูน" in pin and "Lamphun" in pin
    assert page.locator("#verdict .findings li").count() >= 1
    # the API's own words, what to fix
    assert "override=true" in page.inner_text("#verdict .status-message")
    assert "nothing saved" in _status(tab)
    unchanged = api.get(f"/v1/points/{point['id']}").json()
    assert unchanged["version"] == 1 and unchanged["lat"] == CHANG_KHLAN[0]
    page.locator("#verdict").scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir / "agency-move-refused.png"))

    page.click("#pin-override")
    page.wait_for_selector("#status.status-ok", state="attached")
    assert "pin check overridden" in _status(tab)
    moved = api.get(f"/v1/points/{point['id']}").json()
    assert (moved["lat"], moved["lon"]) == LAMPHUN
    assert page.locator("#details .d-head .badge-flag").count() >= 1
    actions = [h["action"] for h in _history(tab)]
    assert "override" in actions
    assert tab.errors_except_http_status() == [] and tab.blocked == []


def test_a_move_onto_a_similar_office_is_a_duplicate_until_confirmed(
    open_tab: Callable[..., Tab], api: httpx.Client, staff: dict[str, Account], created: list[int]
) -> None:
    dopa = staff["dopa"]
    name = f"ศูนย์บริการซ้ำทดสอบ {uuid.uuid4().hex[:6]}"
    there = _new_point(api, dopa, created, name_th=name)
    # the same office pinned again 300 m north: not (yet) a duplicate
    lat = round(CHANG_KHLAN[0] + 0.0027, 6)
    again = _new_point(api, dopa, created, name_th=name, lat=lat)
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    _open_point(tab, again["id"])
    page.fill("#pin-lat", str(CHANG_KHLAN[0] + 0.0002))
    page.fill("#pin-lon", str(CHANG_KHLAN[1]))
    page.click("#pin-check")
    assert _verdict(tab) == "duplicate", page.inner_text("#verdict")
    verdict = page.inner_text("#verdict")
    assert "Your agency already has this point" in verdict and f"#{there['id']}" in verdict
    assert page.get_attribute("#verdict .existing-point", "data-id") == str(there["id"])
    assert api.get(f"/v1/points/{again['id']}").json()["lat"] == lat  # nothing written
    page.click("#confirm-duplicate")
    page.wait_for_selector("#status.status-ok", state="attached")
    assert api.get(f"/v1/points/{again['id']}").json()["lat"] == round(CHANG_KHLAN[0] + 0.0002, 6)
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- the fields
def test_names_phones_hours_access_and_status_are_edited(
    open_tab: Callable[..., Tab], api: httpx.Client, staff: dict[str, Account], created: list[int]
) -> None:
    dopa = staff["dopa"]
    point = _new_point(api, dopa, created)
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    _open_point(tab, point["id"])
    assert page.input_value("#f-hours") == "Mo-Fr 08:30-16:30; PH off"
    page.fill("#f-hours", "Mo-Fr 25:00-26:00")
    page.click("#fields-save")
    page.wait_for_selector("#fields-result[data-verdict='error'], #fields-result strong")
    shown = page.inner_text("#fields-result")
    assert "ข้อมูลไม่ถูกต้อง" in shown and "Not valid; nothing saved" in shown
    assert "opening_hours" in shown  # the API's own words: what to fix
    assert api.get(f"/v1/points/{point['id']}").json()["version"] == 1

    page.fill("#f-name_en", "Chang Khlan Service Centre")
    page.fill("#f-phones", "053 111 222; 053 111 333")
    page.fill("#f-hours", "Mo-Fr 08:30-16:30; Sa 09:00-12:00; PH off")
    page.check("#f-wheelchair")
    page.select_option("#f-status", "temporarily_closed")
    page.click("#fields-save")
    page.wait_for_selector("#status.status-ok", state="attached")
    assert "The details are saved" in _status(tab)
    saved = api.get(f"/v1/points/{point['id']}").json()
    assert saved["name_en"] == "Chang Khlan Service Centre"
    assert saved["phones"] == ["053 111 222", "053 111 333"]
    assert saved["opening_hours_osm"] == "Mo-Fr 08:30-16:30; Sa 09:00-12:00; PH off"
    assert saved["wheelchair"] is True and saved["status"] == "temporarily_closed"
    assert saved["name_th"] == point["name_th"]  # untouched fields are not sent
    changed = {h["field"] for h in _history(tab) if h["action"] == "update"}
    assert changed == {"name_en", "phones", "opening_hours", "wheelchair", "status"}
    assert page.input_value("#f-name_en") == "Chang Khlan Service Centre"  # re-rendered
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- No-Copy
def test_a_service_becomes_no_copy(
    open_tab: Callable[..., Tab],
    api: httpx.Client,
    staff: dict[str, Account],
    created: list[int],
    output_dir: Path,
) -> None:
    dopa = staff["dopa"]
    point = _new_point(api, dopa, created)
    service = "id_card_renewal"
    r = api.put(
        f"/v1/points/{point['id']}/offerings/{service}",
        json={"copies_required": ["id_card"]},
        headers={**dopa.auth, "If-Match": point["etag"]},
    )
    assert r.status_code == 200, r.text

    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    _open_point(tab, point["id"])
    block = page.locator(f".svc-edit[data-code='{service}']")
    assert "ต้องใช้สำเนา 1 รายการ" in block.locator("summary").inner_text()
    block.locator("summary").click()
    box = block.locator(".doc-check input[value='id_card']")
    assert box.is_checked()
    box.uncheck()
    block.locator(".svc-save").click()
    page.wait_for_selector("#status.status-ok", state="attached")
    assert "Saved: ID card renewal" in _status(tab)
    again = page.locator(f".svc-edit[data-code='{service}']")
    assert "ไม่ต้องใช้สำเนา" in again.locator("summary").inner_text()
    offered = {s["code"]: s for s in api.get(f"/v1/points/{point['id']}").json()["services"]}
    assert offered[service]["copies_required"] == [] and offered[service]["no_copy"] is True
    history = [h for h in _history(tab) if h["field"] == f"offerings.{service}"]
    assert history[0]["old"] == "copies_required: id_card"  # newest first
    assert history[0]["new"] == "copies_required: []"
    again.scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir / "agency-no-copy.png"))
    assert tab.console_errors == [] and tab.blocked == []


def test_a_stale_edit_is_refused_with_a_reload(
    open_tab: Callable[..., Tab], api: httpx.Client, staff: dict[str, Account], created: list[int]
) -> None:
    dopa = staff["dopa"]
    point = _new_point(api, dopa, created)
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    _open_point(tab, point["id"])
    # a colleague renames it meanwhile
    r = api.patch(
        f"/v1/points/{point['id']}",
        json={"name_en": "Renamed by a colleague"},
        headers={**dopa.auth, "If-Match": point["etag"]},
    )
    assert r.status_code == 200
    page.fill("#f-phones", "053 999 000")
    page.click("#fields-save")
    page.wait_for_selector("#fields-result[data-verdict='stale']", state="attached")
    shown = page.inner_text("#fields-result")
    assert "มีผู้อื่นแก้ไขจุดบริการนี้ก่อนคุณ" in shown and "HTTP 412" in shown
    page.click("#fields-result .reload")
    page.wait_for_selector("body[data-state='point']", state="attached")
    assert page.input_value("#f-name_en") == "Renamed by a colleague"
    assert api.get(f"/v1/points/{point['id']}").json()["phones"] == ["053 111 222"]
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- another agency
def test_another_agency_cannot_open_or_edit_the_point(
    open_tab: Callable[..., Tab],
    api: httpx.Client,
    staff: dict[str, Account],
    created: list[int],
    output_dir: Path,
) -> None:
    dopa, police = staff["dopa"], staff["police"]
    point = _new_point(api, dopa, created)
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, police.key)
    assert "Royal Thai Police, Chiang Mai" in page.inner_text("#who")
    listed = page.eval_on_selector_all("#points > li", "ls => ls.map(l => Number(l.dataset.id))")
    assert point["id"] not in listed
    _open_point(tab, point["id"])
    assert page.get_attribute("body", "data-state") == "point-error"
    shown = page.inner_text("#details .notfound")
    assert f"ไม่พบจุดบริการ {point['id']} ในหน่วยงานของคุณ" in shown
    assert f"Point {point['id']} is not one of your agency's" in shown and "404" in shown
    # nothing to edit, no pin to drag
    assert page.locator("#fields-form, .pin-marker, .svc-edit").count() == 0
    page.screenshot(path=str(output_dir / "agency-other-agency.png"))
    # and the API refuses the edit itself
    r = api.patch(
        f"/v1/points/{point['id']}", json={"name_en": "Police now"},
        headers={**police.auth, "If-Match": point["etag"]},
    )  # fmt: skip
    assert r.status_code == 404
    assert api.get(f"/v1/points/{point['id']}").json()["version"] == 1
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- bulk
def _csv(rows: list[dict[str, Any]]) -> bytes:
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def _imported(engine: Engine, tag: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM service_point WHERE external_ref LIKE :t"),
                {"t": f"web-{tag}-%"},
            ).scalar_one()
        )


def test_a_bulk_file_with_a_bad_row_is_reported_and_nothing_written(
    open_tab: Callable[..., Tab],
    api: httpx.Client,
    staff: dict[str, Account],
    engine: Engine,
    output_dir: Path,
) -> None:
    dopa = staff["dopa"]
    tag = uuid.uuid4().hex[:6]
    good = {
        "external_ref": f"web-{tag}-1", "kind": "district_office",
        "name_th": f"จุดนำเข้าทดสอบ {tag}", "name_en": f"Import test {tag}",
        "lat": CHANG_KHLAN[0] + 0.001, "lon": CHANG_KHLAN[1], "phones": "053 111 333",
        "opening_hours": "Mo-Fr 08:30-16:30",
    }  # fmt: skip
    bad = dict(good, external_ref=f"web-{tag}-2", name_th=f"จุดนำเข้าผิด {tag}", lat="abc")
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    page.set_input_files(
        "#import-file", {"name": "points.csv", "mimeType": "text/csv", "buffer": _csv([good, bad])}
    )
    page.click("#import-check")
    page.wait_for_selector("#import-report[data-result]", state="attached")
    assert page.get_attribute("#import-report", "data-result") == "errors"
    rows = page.eval_on_selector_all(
        "#import-report tbody tr",
        "rs => rs.map(r => [r.dataset.row, r.querySelector('.row-field').textContent])",
    )
    assert ["2", "lat"] in rows, rows
    assert "nothing written" in page.inner_text("#import-report")
    status = _status(tab)
    assert "ไฟล์มีข้อผิดพลาด" in status and "nothing was written" in status
    assert page.is_disabled("#import-go")
    assert _imported(engine, tag) == 0
    page.locator("#import-report").scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir / "agency-import-report.png"))
    _accessible(page, "an import report")

    # the row fixed: the check passes, then Import writes it and the map shows it
    fixed = dict(bad, lat=CHANG_KHLAN[0] - 0.0015)
    page.set_input_files(
        "#import-file",
        {"name": "points.csv", "mimeType": "text/csv", "buffer": _csv([good, fixed])},
    )
    assert page.is_disabled("#import-go")  # a new file is checked first
    page.click("#import-check")
    page.wait_for_selector("#import-report[data-result='checked']", state="attached")
    assert "2 rows: 2 new" in page.inner_text("#import-report")
    assert page.is_enabled("#import-go")
    before = int(page.get_attribute("body", "data-points") or 0)
    with page.expect_response(lambda r: "points:import" in r.url and "dry_run=false" in r.url):
        page.click("#import-go")
    page.wait_for_selector("#import-report[data-result='written']", state="attached")
    page.wait_for_selector(f"body[data-points='{before + 2}']", state="attached")
    page.fill("#filter", f"web-{tag}-2")
    assert page.locator("#points > li").count() == 1
    assert _imported(engine, tag) == 2
    _no_key_in_addresses(tab, dopa.key)
    assert tab.errors_except_http_status() == [] and tab.blocked == []


def test_the_export_downloads_with_the_key_in_a_header_only(
    open_tab: Callable[..., Tab], staff: dict[str, Account]
) -> None:
    dopa = staff["dopa"]
    tab = open_tab("/agency")
    page = tab.page
    _sign_in(tab, dopa.key)
    page.select_option("#export-format", "geojson")
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename == f"{AGENCY}-points.geojson"
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == int(page.get_attribute("body", "data-points") or 0)
    _no_key_in_addresses(tab, dopa.key)
    assert tab.console_errors == [] and tab.blocked == []
