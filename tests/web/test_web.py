"""The citizen page at /app, driven in a real headless Chromium against the real server.

The server is ``locator serve`` in a subprocess over the session database (the full
registry). Every request that leaves the loopback interface is blocked, which proves the
page works offline: Leaflet, the font and the province outlines all come from the server.
The street tiles (``Settings.tile_url``) are the one thing the page asks elsewhere: tests
either block them too (the page must then fall back to the outlines by itself) or serve
stand-in tiles for the tile host from the test (``tests/support/web_tiles.py``).
Screenshots go to tests/output/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import Engine, text

from locator.api.routers import web
from locator.settings import get_settings
from tests.support.browser import (
    STATIC,
    TILE_HOST,
    TILE_URL,
    XSS,
    Tab,
    needs_chromium,
    query_params,
)
from tests.support.places import BANGKOK
from tests.support.servers import serving
from tests.support.web_a11y import assert_accessible
from tests.support.web_perf import measure_first_load
from tests.support.web_tiles import serve_tiles

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

CHIANG_MAI = (18.7883, 98.9853)
SERVICE = "id_card_renewal"

pytestmark = needs_chromium


def _distances(page: Any) -> list[float]:
    return [
        float(d)
        for d in page.eval_on_selector_all(
            "#results > li", "items => items.map(li => li.dataset.distanceM)"
        )
    ]


# --------------------------------------------------------------------------- the page itself
def test_page_is_served_with_a_strict_policy(api: httpx.Client) -> None:
    r = api.get("/app")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    # images: this server, and exactly the tile host
    assert directives["img-src"] == f"'self' data: {web.tile_origin(TILE_URL) or ''}".strip()
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    html = r.text
    # no inline script, no inline handlers, no template placeholders left
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/static/' in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html)  # no inline code
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"__[A-Z_]+__", html), "a template placeholder was left in"
    assert 'max="' in html and "data-max-k=" in html

    for asset in (
        "/static/dom.js",
        "/static/app.js",
        "/static/app.css",
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet/images/marker-icon.png",
        "/static/vendor/sarabun/sarabun-thai-400-normal.woff2",
    ):
        assert api.get(asset).status_code == 200, asset
    # the page names its scripts and styles by content hash, so they can be kept a year
    versioned = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]{12})"', html)
    assert len(versioned) == 5, versioned  # Leaflet's two, dom.js, app.js, app.css
    for url in versioned:
        assert "immutable" in api.get(url).headers["cache-control"], url
    stale = api.get("/static/app.js?v=000000000000").headers["cache-control"]
    assert "immutable" not in stale  # an old address is not pinned to new content
    etag = r.headers["etag"]
    assert api.get("/app", headers={"If-None-Match": etag}).status_code == 304
    labels = api.get("/app/labels.json").json()
    assert labels["kinds"]["district_office"]["name_en"] == "District Office"
    assert labels["documents"]["id_card"]["name_th"]


def test_app_js_never_writes_html() -> None:
    """API text reaches the page only through textContent / DOM nodes (app.js and the
    DOM helpers it shares with the agency page)."""
    source = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in ("dom.js", "app.js"))
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)  # comments may say the words
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "DOMParser",
        "createContextualFragment",
        "bindPopup(",  # Leaflet would innerHTML a string popup
        "setContent(",
    ):
        assert sink not in code, f"app.js uses {sink}"
    # Leaflet's divIcon/tooltip get DOM nodes, not strings
    for call in re.findall(r"html:\s*([^,\n]+)", code):
        assert call.strip().startswith("h("), call
    for call in re.findall(r"bindTooltip\(([^,]+)", code):
        assert call.strip() == "tip", call


def test_leaflet_is_vendored() -> None:
    leaflet = STATIC / "vendor" / "leaflet"
    assert (leaflet / "LICENSE").is_file()
    assert re.search(r"Leaflet 1\.9\.\d", (leaflet / "leaflet.js").read_text()[:500])
    assert (leaflet / "images" / "layers.png").is_file()


# --------------------------------------------------------------------------- the flows
def test_click_near_bangkok_with_a_service_and_no_copies(
    open_tab: Callable[..., Tab], api: httpx.Client, output_dir: Path
) -> None:
    services = {s["code"]: s for s in api.get("/v1/services").json()["services"]}
    assert SERVICE in services

    tab = open_tab(f"/app?center={BANGKOK[0]},{BANGKOK[1]}&zoom=13")
    page = tab.page
    # the street tiles cannot load here: the page has fallen back to the outlines by itself
    page.wait_for_selector("body[data-provinces='77']", state="attached")
    assert page.get_attribute("body", "data-basemap") == "offline"
    assert page.locator("#results > li").count() == 0

    page.select_option("#service", SERVICE)
    page.check("#no_copy")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("body[data-state='results']", state="attached")

    # the click landed in Bangkok, and the page put its state into the address
    q = query_params(page)
    assert abs(float(q["lat"]) - BANGKOK[0]) < 0.02
    assert abs(float(q["lon"]) - BANGKOK[1]) < 0.02
    assert q["service"] == SERVICE and q["no_copy"] == "true"
    assert "open_now" not in q and "wheelchair" not in q  # only the filters that are set

    items = page.locator("#results > li")
    k = int(page.input_value("#k"))
    assert items.count() == k
    distances = _distances(page)
    assert distances == sorted(distances)
    assert distances[0] < 5_000

    # what the page shows is what the API answers for the same question (by travel time)
    question = {"lat": q["lat"], "lon": q["lon"], "k": k, "service": SERVICE, "no_copy": "true"}
    expected = api.get(
        "/v1/points/nearest", params={**question, "rank": "travel_time", "mode": "drive"}
    ).json()["results"]
    shown_ids = page.eval_on_selector_all("#results > li", "ls => ls.map(li => li.dataset.id)")
    assert shown_ids == [str(p["id"]) for p in expected]
    first = expected[0]
    assert items.nth(0).locator(".name-th").inner_text() == first["name_th"]
    assert items.nth(0).locator(".name-en").inner_text() == first["name_en"]
    # every result needs no photocopies for the service, and says so
    assert page.locator("#results .badge-nocopy").count() == k
    assert page.locator("#results .badge-copies").count() == 0
    # the map: one origin marker, one numbered marker per result
    assert page.locator(".origin-marker").count() == 1
    assert page.locator(".num-marker").count() == k
    assert page.locator(".num-marker span").first.inner_text() == "1"
    assert "status-ok" in (page.get_attribute("#status", "class") or "")
    # the status line names every filter that is applied
    status = page.inner_text("#status")
    service_names = services[SERVICE]
    for words in (service_names["name_th"], service_names["name_en"], "ไม่ต้องใช้สำเนา"):
        assert words in status, (words, status)
    assert "no photocopies" in status
    page.screenshot(path=str(output_dir / "citizen-page.png"))

    # the first result's details
    items.nth(0).locator("button").click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    detail = api.get(f"/v1/points/{first['id']}").json()
    assert page.inner_text("#details .d-name") == detail["name_th"]
    assert page.inner_text("#details .d-name-en") == detail["name_en"]
    assert page.locator("#details table.hours tr").count() == 7
    # where the point comes from is said; a generated one is marked, its phones not links
    assert (
        page.get_attribute("#details [data-source]:not(.generated-note)", "data-source")
        == (detail["source"])
    )
    tel = page.eval_on_selector_all("#details a.tel", "as => as.map(a => a.getAttribute('href'))")
    if detail["source"] == "generated":
        assert page.locator("#details .badge-generated").count() == 1
        assert "not a real office" in page.inner_text("#details .generated-note")
        assert tel == []
        shown = page.locator("#details .tel-generated")
        assert shown.count() == len(detail["phones"]) >= 1
        assert "generated" in shown.first.inner_text()
    else:
        # a real office: real name and pin, but its phones are made up (no public source
        # has them): said so, and not links
        assert detail["provenance"]["phones"] == "synthetic"
        assert page.locator("#details .badge-generated").count() == 0
        assert "made up for the demo" in page.inner_text("#details .generated-note")
        assert tel == []
        assert page.locator("#details .tel-generated").count() == len(detail["phones"]) >= 1
    chosen = page.locator(f"#details details.service[data-code='{SERVICE}']")
    assert chosen.get_attribute("open") is not None  # the chosen service is unfolded, first
    assert page.locator("#details details.service").first.get_attribute("data-code") == SERVICE
    offered = next(s for s in detail["services"] if s["code"] == SERVICE)
    assert chosen.locator("li.doc").count() == len(offered["documents"])
    assert chosen.locator("li.doc-copy").count() == 0  # no copies: nothing flagged
    assert page.locator("#details details.service").count() == len(detail["services"])
    assert query_params(page)["point"] == str(first["id"])
    assert page.locator(".num-marker.selected").count() == 1
    page.screenshot(path=str(output_dir / "citizen-details.png"))

    # back to the list, which is still there
    page.click("#back")
    assert page.locator("#results > li").count() == k

    assert tab.console_errors == []
    assert tab.blocked == []  # nothing left the machine


def test_copies_still_needed_are_named(open_tab: Callable[..., Tab], api: httpx.Client) -> None:
    """Without the no-copy filter, offices that still want photocopies say which ones."""
    lat, lon = BANGKOK
    # the ID card is never asked a copy of to renew it: a service some stations still
    # want copies for (the police came late to No-Copy)
    wanted_service = "criminal_record_certificate"
    params = {"lat": lat, "lon": lon, "k": 100, "service": wanted_service, "no_copy": "false"}
    wanting = api.get("/v1/points/nearest", params=params).json()["results"]
    assert wanting, "the registry has offices that still want copies"
    target = wanting[0]
    labels = api.get("/app/labels.json").json()["documents"]

    tab = open_tab(f"/app?lat={target['lat']}&lon={target['lon']}&k=5&service={wanted_service}")
    page = tab.page
    page.wait_for_selector("body[data-state='results']", state="attached")
    item = page.locator(f"#results > li[data-id='{target['id']}']")
    badge = item.locator(".badge-copies")
    assert badge.get_attribute("data-copies") == ",".join(target["offering"]["copies_required"])
    for code in target["offering"]["copies_required"]:
        assert labels[code]["name_th"] in badge.inner_text()
    assert tab.console_errors == [] and tab.blocked == []


def test_my_location_on_a_phone(
    open_tab: Callable[..., Tab], api: httpx.Client, output_dir: Path
) -> None:
    kinds = api.get("/app/labels.json").json()["kinds"]
    tab = open_tab("/app", viewport=(390, 844), geolocation=CHIANG_MAI, mobile=True)
    page = tab.page
    page.click("#locate")  # at once: the page must not race its own start-up
    page.wait_for_selector("body[data-state='results']", state="attached")
    q = query_params(page)
    assert abs(float(q["lat"]) - CHIANG_MAI[0]) < 1e-4
    assert abs(float(q["lon"]) - CHIANG_MAI[1]) < 1e-4
    distances = _distances(page)
    assert len(distances) == int(page.input_value("#k"))
    assert distances == sorted(distances)
    assert distances[0] < 3_000
    # kinds are named in Thai and English, not shown as codes
    shown = page.eval_on_selector_all("#results .kind", "ks => ks.map(k => k.textContent)")
    assert shown and all(any(k["name_en"] in t for k in kinds.values()) for t in shown), shown
    page.screenshot(path=str(output_dir / "citizen-mobile.png"), full_page=True)

    # narrowing the filters searches again from the same place
    page.check("#wheelchair")
    page.wait_for_function("new URL(location.href).searchParams.get('wheelchair') === 'true'")
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert page.locator("#results .badge-access").count() >= page.locator("#results > li").count()
    assert tab.console_errors == [] and tab.blocked == []


def test_link_opens_a_point_and_errors_are_shown(
    open_tab: Callable[..., Tab], api: httpx.Client
) -> None:
    lat, lon = BANGKOK
    first = api.get("/v1/points/nearest", params={"lat": lat, "lon": lon, "k": 1}).json()
    point = first["results"][0]

    # a shared link opens the same search and the same point
    tab = open_tab(f"/app?lat={lat}&lon={lon}&k=3&point={point['id']}")
    page = tab.page
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert page.inner_text("#details .d-name") == point["name_th"]
    assert page.locator("#results > li").count() == 3
    assert tab.console_errors == []

    # a point that does not exist: the API's message is shown, not swallowed
    tab = open_tab("/app?point=999999999999")
    page = tab.page
    page.wait_for_selector("#status.status-error")
    message = api.get("/v1/points/999999999999").json()["error"]["message"]
    assert message in page.inner_text("#status")
    assert tab.errors_except_http_status() == []

    # the server cannot be reached
    def unreachable(p: Any) -> None:
        p.route("**/v1/points/nearest?**", lambda route: route.abort("connectionrefused"))

    tab = open_tab(f"/app?lat={lat}&lon={lon}", before=unreachable)
    page = tab.page
    page.wait_for_selector("#status.status-error")
    assert "Cannot reach the server" in page.inner_text("#status")
    assert page.locator("#results > li").count() == 0
    assert tab.blocked == []


# --------------------------------------------------------------------------- the background
def test_street_tiles_by_default_when_they_load(
    open_tab: Callable[..., Tab], output_dir: Path
) -> None:
    """At city zoom the background is street tiles (stand-ins here), with their credit."""
    if not TILE_HOST:
        pytest.skip("no tile_url configured")
    tab = open_tab(f"/app?center={BANGKOK[0]},{BANGKOK[1]}&zoom=13", tiles=True)
    page = tab.page
    page.wait_for_selector("body[data-basemap='tiles']", state="attached")
    page.wait_for_selector(".leaflet-tile-loaded")
    assert tab.tiles and all(re.search(r"/13/\d+/\d+\.png$", t) for t in tab.tiles), tab.tiles
    # the outlines are only the fallback: never fetched while tiles work
    assert not [u for u in tab.requests if "/v1/areas/" in u]
    credit = page.locator(".leaflet-control.credits a")
    assert credit.inner_text() == get_settings().tile_attribution
    if "openstreetmap" in TILE_HOST:
        assert credit.get_attribute("href") == "https://www.openstreetmap.org/copyright"
    page.screenshot(path=str(output_dir / "citizen-tiles.png"))
    assert tab.console_errors == []  # no CSP violation either
    assert tab.blocked == []


def test_outlines_when_tiles_cannot_load(open_tab: Callable[..., Tab], output_dir: Path) -> None:
    """No internet: the page notices by itself and shows the offline outlines instead."""
    tab = open_tab("/app")
    page = tab.page
    page.wait_for_selector("body[data-basemap='offline']", state="attached")
    page.wait_for_selector("body[data-provinces='77']", state="attached")
    if TILE_HOST:
        assert tab.tiles  # it did try the tiles first
        assert "Street map unavailable" in page.inner_text(".leaflet-control.credits")
    # the choice stays with the citizen: the layer control offers both
    labels = page.locator(".leaflet-control-layers-base label")
    assert labels.count() == (2 if TILE_HOST else 0)
    page.screenshot(path=str(output_dir / "citizen-offline.png"))
    assert tab.console_errors == [] and tab.blocked == []


def test_tile_settings_make_the_policy() -> None:
    """The policy allows exactly the tile host; no tile URL means no host and no tiles."""
    assert web.tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == (
        "https://tile.openstreetmap.org"
    )
    assert web.tile_origin("https://{s}.tiles.example.org:8443/a/{z}/{x}/{y}.png") == (
        "https://*.tiles.example.org:8443"
    )
    assert web.tile_origin("/tiles/{z}/{x}/{y}.png") is None  # this server: 'self'
    assert web.tile_origin("") is None
    for bad in ("javascript:alert(1)/{z}/{x}/{y}", "https://tiles.example.org/{z}.png"):
        with pytest.raises(ValueError):
            web.tile_origin(bad)

    settings = get_settings()
    none = web.render_page(settings.model_copy(update={"tile_url": ""}))
    assert 'data-tile-url=""' in none and "preconnect" not in none
    assert "img-src 'self' data:;" in web.content_security_policy(None) + ";"
    hostile = web.render_page(
        settings.model_copy(update={"tile_attribution": '<b onmouseover="x()">OSM</b>'})
    )
    assert "<b onmouseover" not in hostile and "&lt;b onmouseover=&quot;x()&quot;&gt;" in hostile


def test_assets_arrive_compressed(api: httpx.Client) -> None:
    """What a phone downloads first is gzip-compressed when it says it accepts it."""
    page = api.get("/app").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    for url in [*assets, "/v1/areas/province", "/v1/services", "/app/labels.json"]:
        r = api.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200, url
        assert r.headers.get("content-encoding") == "gzip", url


# --------------------------------------------------------------------------- name search
def test_search_by_name(open_tab: Callable[..., Tab], api: httpx.Client, output_dir: Path) -> None:
    tab = open_tab("/app")
    page = tab.page
    page.fill("#q", "เชียงใหม่")
    page.press("#q", "Enter")
    page.wait_for_selector("body[data-state='results']", state="attached")
    k = int(page.input_value("#k"))
    expected = api.get("/v1/points/search", params={"q": "เชียงใหม่", "limit": k}).json()
    shown = page.eval_on_selector_all("#results > li", "ls => ls.map(li => li.dataset.id)")
    assert shown == [str(p["id"]) for p in expected["results"]] and shown
    assert page.locator(".num-marker").count() == len(shown)  # on the map too
    assert query_params(page)["q"] == "เชียงใหม่"
    status = page.inner_text("#status")
    assert "“เชียงใหม่”" in status and "ไม่มีตัวกรอง" in status and "no filters" in status

    # with a filter, from a chosen point: the same as the API, nearest first
    page.check("#wheelchair")
    page.wait_for_function("new URL(location.href).searchParams.get('wheelchair') === 'true'")
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert "wheelchair access" in page.inner_text("#status")
    assert page.locator("#results .badge-access").count() >= page.locator("#results > li").count()
    page.screenshot(path=str(output_dir / "citizen-search.png"))

    # a query the server refuses (no word of 3 letters): its 422 is shown, readably
    page.fill("#q", "ab")
    page.click("#q-go")
    page.wait_for_selector("#status.status-error")
    message = api.get("/v1/points/search", params={"q": "ab"}).json()["error"]["message"]
    status = page.inner_text("#status")
    assert message in status and "3" in status and "ค้นหาด้วยคำนี้ไม่ได้" in status
    assert page.get_attribute("#q", "aria-invalid") == "true"
    assert page.locator("#results > li").count() == 0
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- phone, access
def _boxes(page: Any, selector: str) -> list[dict[str, float]]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => e.getBoundingClientRect().toJSON())"
    )


def _settled_boxes(page: Any, selector: str) -> list[dict[str, float]]:
    """Where the elements are once the map has stopped moving (fitBounds animates)."""
    before = _boxes(page, selector)
    for _ in range(20):
        page.wait_for_timeout(150)
        now = _boxes(page, selector)
        if now == before:
            return now
        before = now
    return before


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return min(a["right"], b["right"]) > max(a["left"], b["left"]) and min(
        a["bottom"], b["bottom"]
    ) > max(a["top"], b["top"])


def test_phone_layout(open_tab: Callable[..., Tab], api: httpx.Client, output_dir: Path) -> None:
    """390x844: markers clear of the map's buttons, the longest service name whole."""
    pytest.importorskip("axe_playwright_python", reason="pip install axe-playwright-python")
    services = api.get("/v1/services").json()["services"]
    longest = max(services, key=lambda s: len(s["name_th"]))
    tab = open_tab(
        f"/app?lat={BANGKOK[0]}&lon={BANGKOK[1]}&k=20",
        viewport=(390, 844),
        mobile=True,
        tiles=True,
    )
    page = tab.page
    page.wait_for_selector("body[data-state='results']", state="attached")
    page.select_option("#service", longest["code"])
    page.wait_for_function(
        f"new URL(location.href).searchParams.get('service') === '{longest['code']}'"
    )
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert page.locator(".num-marker").count() == 20

    markers = _settled_boxes(page, ".num-marker, .origin-marker")
    controls = _boxes(page, ".leaflet-control")
    layer_button = page.locator(".leaflet-control-layers").bounding_box()
    assert layer_button is not None and len(controls) == 4  # zoom, layers, scale, credits
    for marker in markers:
        for control in controls:
            assert not _overlap(marker, control), (marker, control)

    # the dropdown shows what fits; the whole name, Thai and English, is right under it
    chosen = page.inner_text("#service-chosen")
    assert longest["name_th"] in chosen and longest["name_en"] in chosen
    assert page.eval_on_selector(
        "#service-chosen",
        "e => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right <= innerWidth",
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    page.screenshot(path=str(output_dir / "citizen-phone.png"))
    page.screenshot(path=str(output_dir / "citizen-phone-full.png"), full_page=True)
    assert_accessible(page, "phone, results")

    page.locator("#results > li button").first.click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert_accessible(page, "phone, details")
    page.screenshot(path=str(output_dir / "citizen-phone-details.png"))
    assert tab.console_errors == [] and tab.blocked == []


def test_no_wcag_violation_in_any_state(open_tab: Callable[..., Tab]) -> None:
    """axe-core's WCAG 2.1 A and AA rules pass on every view of the page."""
    pytest.importorskip("axe_playwright_python", reason="pip install axe-playwright-python")
    tab = open_tab("/app", tiles=True)
    page = tab.page
    page.wait_for_selector("body[data-basemap='tiles']", state="attached")
    assert_accessible(page, "empty, over street tiles")

    page.fill("#q", "Chiang Mai")
    page.press("#q", "Enter")
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert_accessible(page, "name search results")

    page.fill("#q", "!!")
    page.press("#q", "Enter")
    page.wait_for_selector("#status.status-error")
    assert_accessible(page, "a refused search")

    tab = open_tab(f"/app?lat={BANGKOK[0]}&lon={BANGKOK[1]}&service={SERVICE}&no_copy=true")
    page = tab.page
    page.wait_for_selector("body[data-provinces='77']", state="attached")
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert_accessible(page, "nearest results, offline outlines")
    page.locator("#results > li button").first.click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    page.locator("#details details.service").first.locator("summary").click()
    assert_accessible(page, "details")
    assert tab.console_errors == [] and tab.blocked == []


def _tab_until(page: Any, condition: str, limit: int) -> int:
    """Press Tab until ``condition`` (JS on document.activeElement ``e``) holds."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const e = document.activeElement; return {condition}; }})()"):
            return presses
    raise AssertionError(f"{condition} not reached in {limit} presses of Tab")


def _focus_is_visible(page: Any) -> bool:
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""
    )


def test_keyboard_only(open_tab: Callable[..., Tab], engine: Engine) -> None:
    """Tab to the search box, search, open a result, rate it: no mouse, focus always seen."""
    tab = open_tab("/app")
    page = tab.page
    assert _tab_until(page, "e.id === 'q'", 3) == 1  # the search box comes first
    assert _focus_is_visible(page)
    page.keyboard.type("เชียงใหม่")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-state='results']", state="attached")

    _tab_until(page, "e.classList.contains('result-main')", 30)
    assert _focus_is_visible(page)
    pid = int(page.evaluate("document.activeElement.closest('li').dataset.id"))
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert page.evaluate("document.activeElement.id") == "back"

    comment = "ใช้แต่คีย์บอร์ด keyboard only"
    try:
        _tab_until(page, "e.name === 'score'", 150)
        assert _focus_is_visible(page)
        page.keyboard.press("Space")  # 1 star
        for _ in range(3):
            page.keyboard.press("ArrowRight")  # ... 4 stars
        assert page.eval_on_selector("input[name=score]:checked", "e => e.value") == "4"
        _tab_until(page, "e.id === 'rate-comment'", 3)
        page.keyboard.type(comment)
        _tab_until(page, "e.type === 'submit' && !!e.closest('.rate-form')", 3)
        assert _focus_is_visible(page)
        page.keyboard.press("Enter")
        page.wait_for_selector("#status.status-ok")
        assert page.inner_text(".comment-text") == comment
        assert tab.console_errors == [] and tab.blocked == []
    finally:
        with engine.begin() as conn:  # the server committed it: take it out again
            conn.execute(
                text("DELETE FROM rating WHERE point_id = :p AND comment = :c"),
                {"p": pid, "c": comment},
            )


def test_generated_points_say_so(open_tab: Callable[..., Tab], api: httpx.Client) -> None:
    """A generated point is marked as such; a real office says which of its parts are
    real (name, place) and which made up (phones, hours, No-Copy)."""
    lat, lon = CHIANG_MAI
    for kind, source in (("district_office", "pinned"), ("post_office", "generated")):
        found = api.get("/v1/points/nearest", params={"lat": lat, "lon": lon, "k": 1, "kind": kind})
        point = found.json()["results"][0]
        assert api.get(f"/v1/points/{point['id']}").json()["source"] == source
        tab = open_tab(f"/app?point={point['id']}")
        page = tab.page
        page.wait_for_selector("body[data-state='details']", state="attached")
        marked = page.locator("#details .badge-generated, #details .generated-note").count()
        assert marked == (2 if source == "generated" else 1), (kind, source)
        if source == "pinned":
            note = page.inner_text("#details .generated-note[data-source='partly-synthetic']")
            assert "name and place are real" in note and "made up" in note
        origin = page.inner_text("#details [data-source]:not(.generated-note)")
        assert ("not a real office" in origin) == (source == "generated"), origin
        if source == "generated" and importlib.util.find_spec("axe_playwright_python"):
            assert_accessible(page, "details of a generated point")


# --------------------------------------------------------------------------- a phone's network
@pytest.fixture(scope="module")
def tiled_server(db_url: str) -> Iterator[str]:
    """A second ``locator serve`` whose tile URL is a stand-in tile server on loopback."""
    with serve_tiles() as tile_url:
        env = dict(os.environ, LOCATOR_DATABASE_URL=db_url, LOCATOR_TILE_URL=tile_url)
        with serving(env) as served:
            yield served.url


def test_usable_within_3_s_on_a_phone_network(
    browser: Any, server: str, tiled_server: str, output_dir: Path
) -> None:
    """750 kbit/s and 300 ms a request: the page is usable in under 3 s, tiles or not."""
    figures = {}
    for name, url, background in (
        ("street tiles", tiled_server, "tiles"),
        ("no tiles: offline outlines", server, "outlines"),
    ):
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            device_scale_factor=2,
            service_workers="block",
        )
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if urlparse(route.request.url).hostname == "127.0.0.1"
                else route.abort()
            ),
        )
        try:
            load = measure_first_load(
                context.new_page(), url + "/app", wait_for=("usable", background)
            )
        finally:
            context.close()
        figures[name] = load.as_dict()
        print(f"{name}: {load.summary()}")
        assert load.usable_ms < 3000, load.summary()
        assert load.transferred < 300_000, load.summary()
    (output_dir / "phone-network-load.json").write_text(json.dumps(figures, indent=2))


# --------------------------------------------------------------------------- hostile text
def _hostile_point(pid: int, lat: float, lon: float) -> dict[str, Any]:
    return {
        "id": pid,
        "name_th": XSS,
        "name_en": f"</span>{XSS}",
        "kind": "<script>window.__pwned=1</script>",
        "status": "active",
        "agency": {"code": "x", "name_th": XSS, "name_en": XSS},
        "lat": lat,
        "lon": lon,
        "address_th": XSS,
        "address_en": XSS,
        "open_now": True,
        "wheelchair": True,
        "priority_lane": False,
        "gecc": False,
        "offering": {"service": SERVICE, "copies_required": [XSS], "no_copy": False},
        "distance_m": 120.0,
        "bearing_deg": 45.0,
    }


def test_text_from_the_api_is_never_run_as_html(open_tab: Callable[..., Tab]) -> None:
    lat, lon = BANGKOK
    pid = 4242
    nearest = {"origin": {"lat": lat, "lon": lon}, "count": 1}
    nearest["results"] = [_hostile_point(pid, lat + 0.001, lon + 0.001)]
    detail = {
        **_hostile_point(pid, lat + 0.001, lon + 0.001),
        "version": 1,
        "postcode": XSS,
        "tambon_code": None,
        "phones": [f"02 123 4567{XSS}", "javascript:window.__pwned=1"],
        "opening_hours": {
            "tz": "Asia/Bangkok",
            "weekly": {"mon": [[XSS, "16:30"]], "sun": []},
            "note_th": XSS,
            "note_en": XSS,
        },
        "source": "pinned",
        "updated_at": "2026-01-01T00:00:00+07:00",
        "services": [
            {
                "code": SERVICE,
                "name_th": XSS,
                "name_en": XSS,
                "category": "identity_documents",
                "steps": [{"th": XSS, "en": XSS, "minutes": 5}],
                "processing_minutes": 30,
                "fee_thb": 0,
                "fee_note_th": XSS,
                "fee_note_en": XSS,
                "link": "javascript:window.__pwned=1",
                "copies_required": ["id_card"],
                "no_copy": False,
                "no_copy_since": None,
                "notes": XSS,
                "documents": [
                    {"code": "id_card", "name_th": XSS, "name_en": XSS, "copy_required": True}
                ],
            }
        ],
        "rating": {
            "count": 1,
            "average": 5,
            "by_score": {"5": 1},
            "recent": [
                {"score": 5, "comment": XSS, "service": SERVICE, "created_at": "2026-01-01"}
            ],
        },
    }
    services = {"count": 1, "services": [{"code": SERVICE, "name_th": XSS, "name_en": XSS}]}
    services["services"][0]["category"] = XSS

    def hostile(page: Any) -> None:
        def answer(body: Any, status: int = 200) -> Callable[[Any], None]:
            return lambda route: route.fulfill(
                status=status, content_type="application/json", body=json.dumps(body)
            )

        page.route("**/v1/points/nearest?**", answer(nearest))
        page.route(f"**/v1/points/{pid}", answer(detail))
        page.route("**/v1/services", answer(services))

    tab = open_tab(f"/app?lat={lat}&lon={lon}&service={SERVICE}", before=hostile)
    page = tab.page
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert page.locator("#results .name-th").inner_text() == XSS  # shown, as text
    page.locator("#results > li button").first.click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert page.inner_text("#details .d-name") == XSS
    assert XSS in page.inner_text("#details .comment-text")
    page.locator(".num-marker").first.hover()  # the tooltip, built from DOM nodes
    page.wait_for_selector(".leaflet-tooltip")

    # nothing ran, no element was made from the text, no javascript: link exists
    assert page.evaluate("window.__pwned") is None
    made = page.locator("#results img, #details img, .leaflet-tooltip img, #service img")
    assert made.count() == 0
    assert page.locator("script:not([src])").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
    # Leaflet's own controls use "#"
    assert not [h for h in hrefs if not h.startswith(("tel:", "https://", "http://", "/", "#"))]
    assert "tel:" + re.sub(r"[^0-9+]", "", detail["phones"][0]) in hrefs

    # an error message carrying HTML is shown as text too
    page.unroute("**/v1/points/nearest?**")
    page.route(
        "**/v1/points/nearest?**",
        lambda route: route.fulfill(
            status=400,
            content_type="application/json",
            body=json.dumps({"error": {"code": "invalid_input", "message": XSS}}),
        ),
    )
    page.click("#back")
    page.click("#search")
    page.wait_for_selector("#status.status-error")
    assert XSS in page.inner_text("#status .status-message")
    assert page.locator("#status img").count() == 0

    # the name search: hostile names, and a hostile query echoed in the status, are text
    found = {"q": XSS, "count": 1, "truncated": False, "results": nearest["results"]}
    page.route(
        "**/v1/points/search?**",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(found)
        ),
    )
    page.fill("#q", XSS)
    page.press("#q", "Enter")
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert page.locator("#results .name-th").inner_text() == XSS
    assert XSS in page.inner_text("#status")
    assert page.locator("#results img, #status img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert tab.errors_except_http_status() == []
    assert tab.blocked == []


def test_rating_comment_round_trip_is_text(
    open_tab: Callable[..., Tab], api: httpx.Client, engine: Engine
) -> None:
    """A citizen's comment (user text) goes in through the page and comes back as text."""
    lat, lon = CHIANG_MAI
    point = api.get("/v1/points/nearest", params={"lat": lat, "lon": lon, "k": 1}).json()
    pid = point["results"][0]["id"]
    comment = f"บริการดี <b>fast</b> {XSS}"
    tab = open_tab(f"/app?lat={lat}&lon={lon}&k=1&point={pid}")
    page = tab.page
    page.wait_for_selector("body[data-state='details']", state="attached")
    try:
        page.locator(".rate-form label.score").nth(3).click()  # 4 stars
        page.fill(".rate-form textarea", comment)
        page.click(".rate-form button[type=submit]")
        page.wait_for_selector("#status.status-ok")
        assert page.inner_text(".comment-text") == comment
        assert page.locator(".comment img, .comment b").count() == 0
        assert page.evaluate("window.__pwned") is None
        summary = api.get(f"/v1/points/{pid}").json()["rating"]
        assert summary["count"] >= 1 and summary["recent"][0]["comment"] == comment
        assert tab.console_errors == [] and tab.blocked == []
    finally:
        with engine.begin() as conn:  # the server committed it: take it out again
            conn.execute(
                text("DELETE FROM rating WHERE point_id = :p AND comment = :c"),
                {"p": pid, "c": comment},
            )
