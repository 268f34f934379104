"""The citizen page at /app, driven in a real headless Chromium against the real server.

The server is ``locator serve`` in a subprocess over the session database (the full
registry). Every request that leaves the loopback interface is blocked, which proves the
page works offline: Leaflet, the font and the province outlines all come from the server.
Screenshots go to tests/output/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import Engine, text

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

CHROMIUM = os.environ.get("LOCATOR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATIC = Path(__file__).resolve().parent.parent / "locator" / "api" / "static"
BANGKOK = (13.7563, 100.5018)  # Sanam Luang / the old city
CHIANG_MAI = (18.7883, 98.9853)
SERVICE = "id_card_renewal"
XSS = '<img src=x onerror="window.__pwned=1">'
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (Debian package chromium)"
)


# --------------------------------------------------------------------------- the server
@pytest.fixture(scope="module")
def server(live_server: str) -> str:
    return live_server


@pytest.fixture(scope="module")
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


# --------------------------------------------------------------------------- the browser
@dataclass
class Tab:
    """A page in its own browser context, with what it logged and what it tried to fetch."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def errors_except_http_status(self) -> list[str]:
        # Chromium logs every 4xx/5xx answer as "Failed to load resource"; tests that
        # provoke an API error expect exactly that and nothing else.
        return [e for e in self.console_errors if "the server responded with a status" not in e]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_tab(browser: Any, server: str) -> Iterator[Callable[..., Tab]]:
    contexts: list[Any] = []

    def _open(
        path: str = "/app",
        *,
        viewport: tuple[int, int] = (1280, 820),
        geolocation: tuple[float, float] | None = None,
        mobile: bool = False,
        before: Callable[[Any], None] | None = None,
    ) -> Tab:
        options: dict[str, Any] = {
            "viewport": {"width": viewport[0], "height": viewport[1]},
            "locale": "th-TH",
            "timezone_id": "Asia/Bangkok",
            "service_workers": "block",
        }
        if geolocation:
            options["geolocation"] = {"latitude": geolocation[0], "longitude": geolocation[1]}
            options["permissions"] = ["geolocation"]
        if mobile:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**options)
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        tab = Tab(page)

        def offline_only(route: Any) -> None:
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                tab.blocked.append(route.request.url)
                route.abort()

        context.route("**/*", offline_only)
        page.on(
            "console", lambda msg: tab.console_errors.append(msg.text) if msg.type == "error" else 0
        )
        page.on("pageerror", lambda exc: tab.console_errors.append(f"page error: {exc}"))
        if before:
            before(page)
        page.goto(server + path)
        page.wait_for_selector("#service[data-loaded]", state="attached")
        return tab

    yield _open
    for context in contexts:
        context.close()


def _query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


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
        "/static/app.js",
        "/static/app.css",
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet/images/marker-icon.png",
        "/static/vendor/sarabun/sarabun-thai-400-normal.woff2",
    ):
        assert api.get(asset).status_code == 200, asset
    labels = api.get("/app/labels.json").json()
    assert labels["kinds"]["district_office"]["name_en"] == "District Office"
    assert labels["documents"]["id_card"]["name_th"]


def test_app_js_never_writes_html() -> None:
    """API text reaches the page only through textContent / DOM nodes."""
    source = (STATIC / "app.js").read_text(encoding="utf-8")
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
    page.wait_for_selector("body[data-provinces='77']", state="attached")
    assert page.locator("#results > li").count() == 0

    page.select_option("#service", SERVICE)
    page.check("#no_copy")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("body[data-state='results']", state="attached")

    # the click landed in Bangkok, and the page put its state into the address
    q = _query(page)
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

    # what the page shows is what the API answers for the same question
    expected = api.get(
        "/v1/points/nearest",
        params={"lat": q["lat"], "lon": q["lon"], "k": k, "service": SERVICE, "no_copy": "true"},
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
    page.screenshot(path=str(output_dir / "citizen-page.png"))

    # the first result's details
    items.nth(0).locator("button").click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    detail = api.get(f"/v1/points/{first['id']}").json()
    assert page.inner_text("#details .d-name") == detail["name_th"]
    assert page.inner_text("#details .d-name-en") == detail["name_en"]
    assert page.locator("#details table.hours tr").count() == 7
    tel = page.eval_on_selector_all("#details a.tel", "as => as.map(a => a.getAttribute('href'))")
    assert len(tel) == len(detail["phones"]) >= 1
    for href, phone in zip(tel, detail["phones"], strict=True):
        assert href == "tel:" + re.sub(r"[^0-9+]", "", phone)
    chosen = page.locator(f"#details details.service[data-code='{SERVICE}']")
    assert chosen.get_attribute("open") is not None  # the chosen service is unfolded, first
    assert page.locator("#details details.service").first.get_attribute("data-code") == SERVICE
    offered = next(s for s in detail["services"] if s["code"] == SERVICE)
    assert chosen.locator("li.doc").count() == len(offered["documents"])
    assert chosen.locator("li.doc-copy").count() == 0  # no copies: nothing flagged
    assert page.locator("#details details.service").count() == len(detail["services"])
    assert _query(page)["point"] == str(first["id"])
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
    params = {"lat": lat, "lon": lon, "k": 100, "service": SERVICE, "no_copy": "false"}
    wanting = api.get("/v1/points/nearest", params=params).json()["results"]
    assert wanting, "the registry has offices that still want copies"
    target = wanting[0]
    labels = api.get("/app/labels.json").json()["documents"]

    tab = open_tab(f"/app?lat={target['lat']}&lon={target['lon']}&k=5&service={SERVICE}")
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
    q = _query(page)
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


def test_osm_basemap_is_optional_and_allowed_by_the_policy(open_tab: Callable[..., Tab]) -> None:
    """Switching to OpenStreetMap loads tiles (served here by a stand-in, offline)."""
    tile = (STATIC / "vendor" / "leaflet" / "images" / "layers.png").read_bytes()
    tiles: list[str] = []

    def fake_osm(page: Any) -> None:
        def serve(route: Any) -> None:
            tiles.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=tile)

        page.route("https://tile.openstreetmap.org/**", serve)

    tab = open_tab(f"/app?center={BANGKOK[0]},{BANGKOK[1]}&zoom=12", before=fake_osm)
    page = tab.page
    page.wait_for_selector("body[data-provinces='77']", state="attached")
    assert tiles == []  # the default background needs no internet
    page.hover(".leaflet-control-layers")  # it unfolds on hover
    page.locator(".leaflet-control-layers-base label", has_text="OpenStreetMap").click()
    page.wait_for_selector("body[data-basemap='osm']", state="attached")
    page.wait_for_selector(".leaflet-tile-loaded")
    assert tiles and all(re.search(r"/12/\d+/\d+\.png$", t) for t in tiles)
    assert tab.console_errors == []  # no CSP violation either
    assert tab.blocked == []


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
