"""The citizen page's "route here", in a real headless Chromium, on a real road network.

The server is a ``locator serve`` of this module's own over the session database, with
the real Monaco extract imported and its OSRM engines running (``monaco_roads``), and a
service point put in Monaco for the test (``monaco_point``; the registry is Thai). The
same server answers the Thai registry with labelled straight-line estimates, as no Thai
roads are imported. The browser helpers are tests/support/browser.py's: every request that
would leave the machine is blocked. Screenshots go to tests/output/.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from locator.settings import Settings
from locator.travel.osrm.engine import RoutingEngine
from tests.support.browser import Tab, needs_chromium, query_params
from tests.support.places import BANGKOK
from tests.support.servers import serving
from tests.support.web_a11y import assert_accessible

pytestmark = needs_chromium  # open_tab opens this module's own ``server``

CASINO = (43.7396, 7.4246)
IN_THE_SEA = (43.7280, 7.4420)  # 1-2 km off Monaco: inside the network's reach, off its roads
axe = importlib.util.find_spec("axe_playwright_python") is not None


@pytest.fixture(scope="module")
def server(db_url: str, monaco_roads: Settings, monaco_point: int) -> Iterator[str]:
    """``locator serve`` whose state folder holds Monaco's roads (open_tab's server)."""
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": db_url,
        "LOCATOR_STATE_DIR": str(monaco_roads.state_dir),
        "LOCATOR_OSRM_PORT": str(monaco_roads.osrm_port),
    }
    with serving(env) as served:
        yield served.url


def _distance_text(m: float) -> str:
    """The page's formatDistance."""
    if m < 100:
        return f"{round(m)} ม. · m"
    if m < 1000:
        return f"{round(m / 10) * 10} ม. · m"
    return f"{m / 1000:.1f} กม. · km" if m < 10_000 else f"{round(m / 1000):,} กม. · km"


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def _route_requests(tab: Tab) -> list[dict[str, str]]:
    return [
        {k: v[0] for k, v in parse_qs(urlparse(u).query).items()}
        for u in tab.requests
        if urlparse(u).path == "/v1/route"
    ]


def _click_map_centre(page: Any) -> None:
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _press_route(page: Any, mode: str) -> None:
    """Tab to the route button and press Enter: no mouse."""
    page.focus("#back")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.dataset.mode === '{mode}'"):
            break
    else:
        raise AssertionError(f"the {mode} route button is not reached with Tab")
    page.keyboard.press("Enter")


# --------------------------------------------------------------------------- on roads
def test_route_on_real_roads(
    open_tab: Callable[..., Tab], api: httpx.Client, monaco_point: int, output_dir: Path
) -> None:
    lat, lon = CASINO
    tab = open_tab(f"/app?center={lat},{lon}&zoom=15&k=1")
    page = tab.page
    _click_map_centre(page)  # the origin: the casino
    page.wait_for_selector("body[data-state='results']", state="attached")
    q = query_params(page)
    assert abs(float(q["lat"]) - lat) < 1e-3 and abs(float(q["lon"]) - lon) < 1e-3

    # nearest is ranked by travel time, by car, and each result says its trip
    nearest = [u for u in tab.requests if urlparse(u).path == "/v1/points/nearest"]
    asked = parse_qs(urlparse(nearest[-1]).query)
    assert asked["rank"] == ["travel_time"] and asked["mode"] == ["drive"]
    assert page.eval_on_selector_all("#results > li", "ls => ls.map(l => l.dataset.id)") == [
        str(monaco_point)
    ]
    assert "by travel time by car" in page.inner_text("#status")
    travel = page.inner_text("#results .travel")
    assert "min" in travel and "≈" not in travel  # routed, not estimated

    page.locator("#results > li button").first.click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert "From the point you chose on the map" in page.inner_text("#details .route-from")
    _press_route(page, "drive")
    page.wait_for_selector("body[data-route='osrm']", state="attached")

    expected = api.get(
        "/v1/route", params={"from": f"{q['lat']},{q['lon']}", "to": str(monaco_point)}
    ).json()
    assert expected["method"] == "osrm"
    assert _route_requests(tab)[-1] == {
        "from": f"{q['lat']},{q['lon']}",
        "to": str(monaco_point),
        "mode": "drive",
    }
    # the line, along the streets, and a dashed line from each end to its road
    line = page.locator(".leaflet-overlay-pane path.route-line")
    assert line.count() == 1 and "route-estimate" not in (line.get_attribute("class") or "")
    assert (line.get_attribute("d") or "").count("L") > 10
    assert page.locator(".leaflet-overlay-pane path.route-snap").count() == 2
    # time and distance, as the API answered them
    minutes = _minutes(expected["duration_s"])
    assert page.inner_text("#route-result .route-time") == f"{minutes} นาที {minutes} min"
    assert page.inner_text("#route-result .route-distance") == _distance_text(
        expected["distance_m"]
    )
    assert page.get_attribute("#route-result", "data-method") == "osrm"
    assert page.locator("#route-result .route-estimate").count() == 0
    assert "Route by car" in page.inner_text("#status")
    page.screenshot(path=str(output_dir / "citizen-route.png"))
    if axe:
        assert_accessible(page, "a route on roads")

    # on foot: the same way, slower
    with page.expect_response(lambda r: "/v1/route" in r.url and "mode=walk" in r.url):
        page.locator(".route-btn[data-mode='walk']").click()
    page.wait_for_selector("body[data-route='osrm'] #route-result .route-time", state="attached")
    walk = api.get(
        "/v1/route",
        params={"from": f"{q['lat']},{q['lon']}", "to": str(monaco_point), "mode": "walk"},
    ).json()
    walking = _minutes(walk["duration_s"])
    assert walking > minutes
    assert page.inner_text("#route-result .route-time") == f"{walking} นาที {walking} min"
    assert page.locator(".leaflet-overlay-pane path.route-line").count() == 1  # replaced

    # back to the results: the route goes
    page.click("#back")
    assert page.locator(".leaflet-overlay-pane path.route-line").count() == 0
    assert page.get_attribute("body", "data-route") is None
    assert tab.console_errors == [] and tab.blocked == []


def test_an_origin_off_the_roads_is_a_clear_error(
    open_tab: Callable[..., Tab], monaco_point: int
) -> None:
    """In the sea: nearest keeps the distance order (the API says why); the route is a 422."""
    lat, lon = IN_THE_SEA
    tab = open_tab(f"/app?lat={lat}&lon={lon}&k=1&point={monaco_point}")
    page = tab.page
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert page.eval_on_selector_all("#results > li", "ls => ls.map(l => l.dataset.id)") == [
        str(monaco_point)
    ]
    page.click("#back")
    assert "ordered by distance: the chosen point is" in page.inner_text("#status")
    page.locator("#results > li button").first.click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    page.locator(".route-btn[data-mode='drive']").click()
    page.wait_for_selector("body[data-route='error']", state="attached")
    status = page.inner_text("#status")
    assert "หาเส้นทางไม่ได้" in status and "Could not find a route" in status
    assert "from: the nearest road is" in page.inner_text("#status .status-message")
    assert page.locator(".leaflet-overlay-pane path.route-line").count() == 0
    assert tab.errors_except_http_status() == [] and tab.blocked == []


# --------------------------------------------------------------------------- no roads
def test_on_the_thai_registry_the_route_is_a_labelled_estimate(
    open_tab: Callable[..., Tab], api: httpx.Client, output_dir: Path
) -> None:
    lat, lon = BANGKOK
    tab = open_tab(f"/app?lat={lat}&lon={lon}&k=3")
    page = tab.page
    page.wait_for_selector("body[data-state='results']", state="attached")
    assert "in a straight line" in page.inner_text("#status")  # the ranking says so too
    assert page.locator("#results .travel-estimate").count() == 3
    third = page.locator("#results > li").nth(2)  # the farthest: a line longer than a marker
    first = third.get_attribute("data-id") or ""
    third.locator("button").click()
    page.wait_for_selector("body[data-state='details']", state="attached")
    _press_route(page, "drive")
    page.wait_for_selector("body[data-route='straight_line']", state="attached")

    q = query_params(page)
    expected = api.get("/v1/route", params={"from": f"{q['lat']},{q['lon']}", "to": first}).json()
    assert expected["method"] == "straight_line"
    estimate = page.inner_text("#route-result .route-estimate")
    assert "A straight-line estimate, not a road route" in estimate
    assert "ค่าประมาณจากระยะทางเส้นตรง ไม่ใช่เส้นทางบนถนน" in estimate
    assert f"Why: {expected['estimate']['reason']}." in estimate
    assert "no imported road network covers" in estimate and "40 km/h" in estimate
    minutes = _minutes(expected["duration_s"])
    assert page.inner_text("#route-result .route-time") == (
        f"ประมาณ {minutes} นาที about {minutes} min"
    )
    line = page.locator(".leaflet-overlay-pane path.route-line.route-estimate")
    assert line.count() == 1 and line.get_attribute("stroke-dasharray") == "10 8"
    assert page.locator(".leaflet-overlay-pane path.route-snap").count() == 0
    assert "Straight-line estimate, not a road route" in page.inner_text("#status")
    page.screenshot(path=str(output_dir / "citizen-route-estimate.png"))
    if axe:
        assert_accessible(page, "a straight-line estimate")
    assert tab.console_errors == [] and tab.blocked == []


def test_without_a_starting_point_the_page_says_how_to_choose_one(
    open_tab: Callable[..., Tab], api: httpx.Client
) -> None:
    lat, lon = BANGKOK
    point = api.get("/v1/points/nearest", params={"lat": lat, "lon": lon, "k": 1}).json()
    tab = open_tab(f"/app?point={point['results'][0]['id']}")
    page = tab.page
    page.wait_for_selector("body[data-state='details']", state="attached")
    assert "to choose where you start" in page.inner_text("#details .route-from")
    page.locator(".route-btn[data-mode='drive']").click()
    assert "Choose where you start first" in page.inner_text("#status")
    assert not _route_requests(tab)
    assert tab.console_errors == [] and tab.blocked == []


# --------------------------------------------------------------------------- engine down
def test_an_engine_that_is_down_is_shown(
    open_tab: Callable[..., Tab], monaco_roads: Settings, monaco_point: int
) -> None:
    lat, lon = CASINO
    tab = open_tab(f"/app?lat={lat}&lon={lon}&k=1&point={monaco_point}")
    page = tab.page
    page.wait_for_selector("body[data-state='details']", state="attached")
    engine = RoutingEngine(monaco_roads)
    assert engine.stop("drive")
    try:
        page.locator(".route-btn[data-mode='drive']").click()
        page.wait_for_selector("body[data-route='error']", state="attached")
        message = page.inner_text("#status .status-message")
        assert "routing engine does not answer" in message
        assert "Could not find a route" in page.inner_text("#status")
        assert page.locator(".leaflet-overlay-pane path.route-line").count() == 0
    finally:
        engine.start("drive")
    assert tab.errors_except_http_status() == [] and tab.blocked == []
