"""`locator map route`: a route map as one HTML file, opened in a real headless Chromium
with every request that would leave the machine blocked.

The route is on the real Monaco extract through a running OSRM engine (``monaco_roads``)
to a service point put in Monaco for the test (``monaco_point``); a Thai pair of places
is outside that network and gets the labelled straight-line estimate. Screenshots go to
tests/output/.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
import folium.plugins
import pytest
from sqlalchemy import text

from locator.errors import ConfigurationError
from locator.maps.base import (
    distance_words,
    duration_words,
    offline_map,
    remote_resources,
    render,
    save,
)
from locator.maps.review import review_map
from locator.maps.route import Destination, route_map
from locator.settings import Settings
from locator.travel import estimate
from locator.travel.places import Place, parse_place
from locator.travel.route import route as find_route
from tests.support.browser import XSS, Opened, count, needs_chromium
from tests.support.cli import LOCATOR
from tests.support.places import MONACO_OFFICE
from tests.support.ports import free_port_pair

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

CASINO = "43.7396,7.4246"
SIAM = "13.7466,100.5347"
SANAM_LUANG = "13.7563,100.5018"

REVIEW_DRAWN = "() => window.locatorReview && locatorReview.ready !== null"
TILES_LOADED = (
    "() => !document.querySelector('.leaflet-tile-container canvas:not(.leaflet-tile-loaded)')"
)


@pytest.fixture(scope="module")
def roads_env(db_url: str, monaco_roads: Settings) -> dict[str, str]:
    """The command's environment: the session database, Monaco's roads and engines."""
    return {
        **os.environ,
        "LOCATOR_DATABASE_URL": db_url,
        "LOCATOR_STATE_DIR": str(monaco_roads.state_dir),
        "LOCATOR_OSRM_PORT": str(monaco_roads.osrm_port),
    }


def run_map(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOCATOR, "map", "route", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _popup_after_click(page: Any, selector: str) -> str:
    # a DOM click on the layer itself (a control in a corner may lie over it)
    page.locator(selector).first.dispatch_event("click")
    page.wait_for_selector(".leaflet-popup-content")
    text = str(page.inner_text(".leaflet-popup-content"))
    page.locator(".leaflet-popup-close-button").dispatch_event("click")
    page.wait_for_selector(".leaflet-popup", state="detached")  # it fades out first
    return text


# --------------------------------------------------------------------------- the command
@needs_chromium
def test_a_route_on_real_roads_to_a_point(
    roads_env: dict[str, str],
    monaco_roads: Settings,
    monaco_point: int,
    open_map: Callable[[Path], Opened],
    tmp_path: Path,
    output_dir: Path,
) -> None:
    out = tmp_path / "route.html"
    done = run_map(roads_env, "--from", CASINO, "--to", str(monaco_point), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}") and "on the roads (OSRM, drive)" in done.stdout

    # the same route the API answers
    lat, lon = MONACO_OFFICE
    expected = find_route(
        monaco_roads,
        parse_place(CASINO, "from"),
        Place(lat, lon, monaco_point),
        "drive",
    )
    assert expected["method"] == "osrm"
    distance = distance_words(expected["distance_m"])
    duration = duration_words(expected["duration_s"])
    assert distance in done.stdout and duration in done.stdout

    html = out.read_text(encoding="utf-8")
    # folium's default CDN resources are gone; Leaflet is inlined
    assert remote_resources(html) == []
    for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "code.jquery.com", "bootstrapcdn"):
        assert cdn not in html, cdn
    assert 't.version="1.9.4"' in html

    opened = open_map(out)
    page = opened.page
    # the route polyline, the two dashed lines to the road, the two snap points
    route_d = page.get_attribute(".leaflet-overlay-pane path.locator-route", "d") or ""
    assert route_d.count("L") > 10  # a line along streets, not two points
    assert count(page, ".leaflet-overlay-pane path.locator-snap-line") == 2
    assert count(page, ".leaflet-overlay-pane path.locator-snap") == 2
    assert count(page, ".leaflet-overlay-pane path.locator-estimate") == 0
    # the imported roads around it, drawn under it as the offline background
    assert count(page, ".leaflet-overlay-pane path") > 5
    # both ends as markers; the destination's pin image is inlined and has loaded
    assert count(page, ".leaflet-marker-pane .leaflet-marker-icon") == 2
    pin = page.locator(".leaflet-marker-pane img.leaflet-marker-icon")
    assert (pin.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert pin.evaluate("img => img.complete && img.naturalWidth") == 25
    # time and distance in the legend and the title
    legend = page.inner_text(".locator-legend")
    assert f"{distance} · {duration}" in legend and "Monaco test office" in legend
    assert page.title() == f"เส้นทางรถยนต์ · Route by car: {distance}, {duration}"
    assert count(page, ".locator-warning") == 0
    page.screenshot(path=str(output_dir / "map-route.png"))
    # popups, as text
    assert "Monaco test office" in _popup_after_click(page, "img.leaflet-marker-icon")
    assert "Start" in _popup_after_click(page, ".locator-end")
    snap = expected["snap_distance_m"]["from"]
    assert f"{snap:.0f} m from the start" in _popup_after_click(page, "path.locator-snap")
    assert opened.errors == []
    assert opened.left == []  # nothing left the machine


@needs_chromium
def test_outside_the_network_the_map_says_it_is_a_straight_line(
    roads_env: dict[str, str],
    open_map: Callable[[Path], Opened],
    tmp_path: Path,
    output_dir: Path,
) -> None:
    out = tmp_path / "estimate.html"
    done = run_map(roads_env, "--from", SIAM, "--to", SANAM_LUANG, "--mode", "walk", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "a straight-line estimate (no imported road network covers" in done.stdout

    opened = open_map(out)
    page = opened.page
    assert count(page, "path.locator-route.locator-estimate") == 1
    assert count(page, "path.locator-snap-line, path.locator-snap") == 0
    # the plain label, and why
    warning = page.inner_text(".locator-legend .locator-warning")
    assert warning.startswith("A straight-line estimate, not a road route:")
    assert "no imported road network covers the from and the to end" in warning
    legend = page.inner_text(".locator-legend")
    assert "at an assumed 5 km/h" in legend
    assert page.title().startswith("Straight-line estimate, not a road route:")
    # Bangkok's district outlines as the offline background
    assert count(page, ".leaflet-overlay-pane path") >= 2
    assert count(page, ".leaflet-marker-pane .leaflet-marker-icon") == 2
    page.screenshot(path=str(output_dir / "map-route-estimate.png"))
    assert opened.errors == [] and opened.left == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "north", "--to", SANAM_LUANG], "from: 'north' is not lat,lon"),
        (["--from", "100.5,13.7", "--to", SANAM_LUANG], "latitude is -90..90"),
        (["--from", SIAM, "--to", "999999999"], "no service point with id 999999999"),
        (["--from", SIAM, "--to", "somewhere"], "to: 'somewhere' is not lat,lon or a point id"),
        # in the sea off Monaco: inside the network's reach, beyond the snap radius
        (["--from", "43.7280,7.4420", "--to", CASINO], "from: the nearest road is"),
    ],
)
def test_mistakes_are_one_clear_line(
    roads_env: dict[str, str], tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "never.html"
    done = run_map(roads_env, *args, "-o", str(out))
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_a_file_that_cannot_be_written_is_one_line(
    roads_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "no" / "such" / "folder" / "map.html"
    done = run_map(roads_env, "--from", SIAM, "--to", SANAM_LUANG, "-o", str(out))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot write {out}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_engine_that_is_down_is_one_line(roads_env: dict[str, str], tmp_path: Path) -> None:
    # the network is imported, but nothing listens on these ports
    env = {**roads_env, "LOCATOR_OSRM_PORT": str(free_port_pair())}
    out = tmp_path / "never.html"
    done = run_map(env, "--from", CASINO, "--to", "43.7315,7.4206", "-o", str(out))
    assert done.returncode == 2 and not out.exists()
    assert "routing engine does not answer" in done.stderr and "locator roads start" in done.stderr


# --------------------------------------------------------------------------- the base
def test_the_base_map_needs_no_internet_and_save_refuses_one_that_would() -> None:
    # folium as it comes loads Leaflet, jQuery, Bootstrap, Font Awesome from CDNs
    assert len(remote_resources(folium.Map().get_root().render())) >= 8
    m = offline_map("empty", location=[13.75, 100.5], zoom_start=10)
    html = render(m)
    assert remote_resources(html) == [] and "<title>empty</title>" in html
    # an element that brings its own CDN script is refused, not silently written
    folium.plugins.MarkerCluster().add_to(m)
    with pytest.raises(ConfigurationError, match="from the internet"):
        render(m)


@needs_chromium
def test_text_in_a_map_is_never_html(open_map: Callable[[Path], Opened], tmp_path: Path) -> None:
    origin, dest = Place(13.7466, 100.5347), Place(13.7563, 100.5018)
    route = estimate.straight_line(origin, dest, "drive", f"because {XSS}")
    hostile = Destination([XSS, f"`${{window.__pwned=2}}` </script>{XSS}"], XSS)
    out = save(route_map(route, origin, dest, hostile), tmp_path / "hostile.html")
    opened = open_map(out)
    page = opened.page
    assert XSS in page.inner_text(".locator-legend .locator-warning")
    assert XSS in _popup_after_click(page, "img.leaflet-marker-icon")
    assert page.evaluate("window.__pwned") is None
    assert count(page, ".locator-legend img, .leaflet-popup img") == 0
    assert opened.errors == [] and opened.left == []


# --------------------------------------------------------------------------- the review map
def run_review(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOCATOR, "map", "review", *args], env=env, capture_output=True, text=True, timeout=300
    )


def review_data(html: str) -> dict[str, Any]:
    """The points a review map carries (its one gzip-compressed JSON document)."""
    found = re.search(
        r'<script type="application/octet-stream" id="locator-review-data">'
        r"([A-Za-z0-9+/=\s]+)</script>",
        html,
    )
    assert found, "no point data in the map"
    return dict(json.loads(gzip.decompress(base64.b64decode(found.group(1)))))


def _show_point(page: Any, point_id: int, zoom: int = 17) -> tuple[float, float]:
    """Zoom to a point and wait for its tiles; its position on the screen."""
    page.evaluate(
        """([id, zoom]) => {
            const c = locatorReview.data.columns, i = locatorReview.indexOf(id);
            locatorReview.map.setView([c.lat[i] / 1e5, c.lon[i] / 1e5], zoom, {animate: false});
        }""",
        [point_id, zoom],
    )
    page.wait_for_function(TILES_LOADED)
    xy = page.evaluate(
        """(id) => {
            const c = locatorReview.data.columns, i = locatorReview.indexOf(id);
            const p = locatorReview.map.latLngToContainerPoint([c.lat[i] / 1e5, c.lon[i] / 1e5]);
            const box = locatorReview.map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        point_id,
    )
    return float(xy[0]), float(xy[1])


def _click_popup(page: Any, x: float, y: float) -> str:
    """Click there; the text of the popup it opens (any earlier popup closed first)."""
    page.evaluate("locatorReview.map.closePopup()")
    page.wait_for_selector(".leaflet-popup", state="detached")
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content")
    text = str(page.inner_text(".leaflet-popup-content"))
    return text


def _painted(page: Any) -> int:
    """How many pixels of the points' canvas tiles are painted."""
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll('canvas.locator-review-tile')].reduce(
                (sum, tile) => {
                    const w = tile.width, h = tile.height;
                    const d = tile.getContext('2d').getImageData(0, 0, w, h).data;
                    let n = 0;
                    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
                    return sum + n;
                }, 0)"""
        )
    )


@needs_chromium
def test_the_review_map_of_the_whole_registry(
    cli_env: dict[str, str],
    connection: Any,
    open_map: Callable[..., Opened],
    tmp_path: Path,
    output_dir: Path,
) -> None:
    counts = dict(
        connection.execute(
            text("SELECT source = 'generated', count(*) FROM service_point GROUP BY 1")
        ).all()
    )
    total, generated = counts[False] + counts[True], counts[True]
    out = tmp_path / "review.html"
    done = run_review(cli_env, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"wrote {out}: {total:,} points ({total - generated:,} real, {generated:,} generated"
    ), done.stdout
    html = out.read_text(encoding="utf-8")
    assert remote_resources(html) == []
    assert out.stat().st_size <= 15_000_000
    data = review_data(html)
    assert len(data["columns"]["id"]) == total
    # one drawing layer per kind of point, no DOM marker per point
    assert html.count("L.marker(") == 0 and html.count("L.circleMarker(") == 0

    opened = open_map(out, REVIEW_DRAWN)
    page = opened.page
    assert page.evaluate("locatorReview.data.columns.id.length") == total
    assert page.evaluate("locatorReview.drawn") >= total  # every point on a tile
    assert count(page, "canvas.locator-review-tile") > 4
    assert _painted(page) > 1_000  # the session's registry also has a point in Monaco
    # Thailand: tens of thousands of pixels of points
    page.evaluate("locatorReview.map.fitBounds([[5.6, 97.3], [20.5, 105.7]], {animate: false})")
    page.wait_for_function(TILES_LOADED)
    assert _painted(page) > 20_000
    assert count(page, ".leaflet-marker-pane > *") == 0
    control = page.inner_text(".leaflet-control-layers-overlays")
    assert f"Real offices ({total - generated:,})" in control
    assert f"Generated, not facts ({generated:,})" in control
    legend_text = page.inner_text(".locator-legend")
    assert f"{total:,} จุด · points" in legend_text and "not real offices" in legend_text
    if connection.execute(text("SELECT to_regclass('qa_flag')")).scalar() is not None:
        # the pin check's findings of the load: a layer per flag, with its count
        for flag, flagged in connection.execute(
            text(
                "SELECT flag, count(DISTINCT point_id) FROM qa_flag "
                "WHERE resolved_at IS NULL GROUP BY 1"
            )
        ):
            assert f"QA: {flag} ({flagged:,})" in control, (flag, control)
    page.wait_for_timeout(400)  # the tiles' fade-in
    page.screenshot(path=str(output_dir / "map-review.png"))

    # a known real office: its facts, in Thai and English, and that it is real
    office = connection.execute(
        text(
            "SELECT id, name_th, name_en, address_en, phones FROM service_point "
            "WHERE name_en = 'Phra Nakhon District Office'"
        )
    ).one()
    popup = _click_popup(page, *_show_point(page, int(office.id)))
    for fact in (office.name_th, office.name_en, office.address_en, *office.phones):
        assert fact in popup, (fact, popup)
    assert "ที่ว่าการอำเภอ · District Office" in popup
    assert "Real office, pinned by its agency" in popup
    assert "Mo-Fr 08:30-16:30; PH off" in popup
    page.wait_for_timeout(300)  # the popup's fade-in
    page.screenshot(path=str(output_dir / "map-review-popup.png"))

    # a generated point says plainly that it is not a fact
    fake = connection.execute(
        text(
            "SELECT id, name_en FROM service_point WHERE source = 'generated' "
            "AND left(tambon_code, 2) = '50' ORDER BY id LIMIT 1"
        )
    ).one()
    popup = _click_popup(page, *_show_point(page, int(fake.id), 18))
    assert fake.name_en in popup and "Generated for the demo, not a fact" in popup

    # the generated layer off: its tiles go, the popup of a generated point no longer opens
    page.evaluate("locatorReview.map.closePopup()")
    page.wait_for_selector(".leaflet-popup", state="detached")
    page.get_by_label(re.compile("Generated, not facts")).uncheck()
    page.mouse.click(*_show_point(page, int(fake.id), 18))
    page.wait_for_timeout(300)
    assert count(page, ".leaflet-popup") == 0
    assert opened.errors == []
    assert opened.left == []  # nothing left the machine


def test_a_filtered_review_map_holds_only_those_points(
    cli_env: dict[str, str], connection: Any, tmp_path: Path
) -> None:
    out = tmp_path / "chiang-mai.html"
    done = run_review(cli_env, "--province", "เชียงใหม่", "--kind", "district_office", "-o", str(out))
    assert done.returncode == 0, done.stderr
    expected = set(
        connection.execute(
            text(
                "SELECT id FROM service_point WHERE kind = 'district_office' "
                "AND tambon_code LIKE '50%'"
            )
        ).scalars()
    )
    assert len(expected) > 20
    data = review_data(out.read_text(encoding="utf-8"))
    cols = data["columns"]
    assert set(cols["id"]) == expected
    assert [k[0] for k in data["kinds"]] == ["district_office"]
    assert all(re.search(r", Chiang Mai \d{5}$", a) for a in cols["address_en"] if a), cols[
        "address_en"
    ]
    assert done.stdout.startswith(f"wrote {out}: {len(expected):,} points")

    # by code, generated only: the same province, no real point
    out = tmp_path / "generated.html"
    done = run_review(cli_env, "--province", "50", "--source", "generated", "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = review_data(out.read_text(encoding="utf-8"))
    assert {data["sources"][i][0] for i in data["columns"]["source"]} == {"generated"}
    assert data["columns"]["id"] and all(
        re.search(r", Chiang Mai \d{5}$", a) for a in data["columns"]["address_en"]
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--province", "Narnia"], "province: no province 'Narnia'"),
        (["--kind", "castle"], "kind: no service point has kind 'castle'"),
    ],
)
def test_review_map_mistakes_are_one_clear_line(
    cli_env: dict[str, str], tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "never.html"
    done = run_review(cli_env, *args, "-o", str(out))
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not out.exists()


@needs_chromium
def test_each_qa_flag_is_a_layer_and_text_stays_text(
    connection: Any, open_map: Callable[..., Opened], tmp_path: Path
) -> None:
    """QA flags come from the data (``qa_flag``): findings written in the test's
    transaction, one of them resolved, with a hostile detail and a hostile point name."""
    if connection.execute(text("SELECT to_regclass('qa_flag')")).scalar() is None:
        connection.execute(  # a schema before the pin check's migration
            text("CREATE TABLE qa_flag (point_id bigint, flag text, detail text)")
        )
    connection.execute(text("DELETE FROM qa_flag"))
    ids = list(
        connection.execute(
            text("SELECT id FROM service_point WHERE tambon_code LIKE '83%' ORDER BY id LIMIT 3")
        ).scalars()
    )
    connection.execute(
        text(
            "INSERT INTO qa_flag (point_id, flag, detail) VALUES (:a, 'wrong_province', :xss), "
            "(:b, 'duplicate', 'beside point ' || :a), (:b, 'wrong_province', 'in Phang-nga')"
        ),
        {"a": ids[0], "b": ids[1], "xss": XSS},
    )
    if connection.execute(text("SELECT to_regclass('qa_flag')")).scalar() is not None:
        has_resolved = connection.execute(
            text(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'qa_flag' "
                "AND column_name = 'resolved_at'"
            )
        ).first()
        if has_resolved:  # a resolved finding no longer needs review
            connection.execute(
                text(
                    "INSERT INTO qa_flag (point_id, flag, detail, resolved_at) "
                    "VALUES (:c, 'duplicate', 'checked', now())"
                ),
                {"c": ids[2]},
            )
    connection.execute(
        text("UPDATE service_point SET name_th = :xss WHERE id = :a"), {"xss": XSS, "a": ids[0]}
    )
    m, summary = review_map(connection, province="Phuket")
    assert summary.flags == ["duplicate", "wrong_province"] and summary.flagged == 2
    out = save(m, tmp_path / "flags.html")
    opened = open_map(out, REVIEW_DRAWN)
    page = opened.page
    control = page.inner_text(".leaflet-control-layers-overlays")
    assert "QA: wrong_province (2)" in control and "QA: duplicate (1)" in control
    legend_text = page.inner_text(".locator-legend")
    assert "2 ต้องตรวจสอบ · flagged for review" in legend_text
    popup = _click_popup(page, *_show_point(page, ids[0], 18))
    assert XSS in popup and "Needs review: wrong_province" in popup
    assert f"wrong_province: {XSS}" in popup
    popup = _click_popup(page, *_show_point(page, ids[1], 18))
    assert "Needs review: duplicate, wrong_province" in popup
    assert f"duplicate: beside point {ids[0]}" in popup
    popup = _click_popup(page, *_show_point(page, ids[2], 18))
    assert "Needs review" not in popup
    assert page.evaluate("window.__pwned") is None
    assert count(page, ".leaflet-control-layers img, .leaflet-popup img") == 0
    assert opened.errors == [] and opened.left == []
