"""Coverage and No-Copy choropleths (issue 13 item 4), opened in a real headless Chromium
with every request that would leave the machine blocked (``open_map``, tests/support/browser.py).

The coverage maps are of a real ``locator.analysis.coverage`` run on the session database (a rare
service, so there are gaps to see); screenshots go to tests/output/coverage-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine, text

from locator.analysis import coverage
from locator.analysis.stats import registry_stats
from locator.errors import InvalidInput
from locator.maps.base import distance_words, remote_resources, render, save
from locator.maps.choropleth import SIMPLIFY_DEG, light_polygons
from locator.maps.coverage import COVERAGE_SHADES, coverage_map, demo_data_warning
from locator.maps.no_copy import NO_COPY_SHADES, no_copy_by_province, no_copy_map
from locator.query.filters import PointFilter
from locator.settings import get_settings
from tests.support.browser import XSS, Opened, count, needs_chromium

SERVICE = "land_title_transfer"  # 450 land offices: districts from no gap to all
READY = "() => window.locatorChoropleth && locatorChoropleth.ready !== null"


@pytest.fixture(scope="module")
def run(engine: Engine) -> Iterator[dict[str, Any]]:
    """One coverage run for the module: districts and tambons with polygons, the worst
    units and five suggested sites."""
    with engine.connect() as conn:
        result = coverage.coverage(conn, get_settings(), PointFilter(service=SERVICE))
        yield {
            "result": result,
            "districts": coverage.aggregate(result, "district", conn, with_polygons=True),
            "tambons": coverage.aggregate(result, "tambon", conn, with_polygons=True),
            "worst": coverage.worst_units(result, 20),
            "siting": coverage.suggest_sites(result, 5, 10),
            "warning": demo_data_warning(conn),
        }


def _painted(page: Any) -> dict[str, int]:
    """Pixels of the areas' canvas: how many are painted, and how many of each class
    colour (an opaque fill within a few levels of it)."""
    return dict(
        page.evaluate(
            """(colors) => {
                const canvas = document.querySelector('.leaflet-overlay-pane canvas');
                const w = canvas.width, h = canvas.height;
                const d = canvas.getContext('2d').getImageData(0, 0, w, h).data;
                const rgb = colors.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
                const out = {painted: 0};
                colors.forEach(c => out[c] = 0);
                for (let i = 0; i < d.length; i += 4) {
                    if (!d[i + 3]) continue;
                    out.painted++;
                    if (d[i + 3] < 200) continue;
                    for (let k = 0; k < rgb.length; k++) {
                        const [r, g, b] = rgb[k];
                        const off = Math.abs(d[i] - r) + Math.abs(d[i + 1] - g)
                            + Math.abs(d[i + 2] - b);
                        if (off < 12) {
                            out[colors[k]]++;
                            break;
                        }
                    }
                }
                return out;
            }""",
            [s.color for s in COVERAGE_SHADES + NO_COPY_SHADES],
        )
    )


def _close_popup(page: Any) -> None:
    page.evaluate("() => { locatorChoropleth.map.closePopup(); }")
    page.wait_for_selector(".leaflet-popup", state="detached")  # it fades out first


def _popup_of(page: Any, selector: str) -> str:
    """The text of the popup a click on the (first) element opens; closed again."""
    _close_popup(page)
    page.locator(selector).first.dispatch_event("click")
    page.wait_for_selector(".leaflet-popup-content")
    text_ = str(page.inner_text(".leaflet-popup-content"))
    _close_popup(page)
    return text_


def _click_area(page: Any, lat: float, lon: float) -> str:
    """A real mouse click on the map there (the canvas finds the area); the popup's text."""
    _close_popup(page)
    x, y = page.evaluate(
        """([lat, lon]) => {
            const m = locatorChoropleth.map, p = m.latLngToContainerPoint([lat, lon]);
            const box = m.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lat, lon],
    )
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content")
    return str(page.inner_text(".leaflet-popup-content"))


def _render_ms(page: Any) -> float:
    """From the start of navigation to the areas drawn (the page's own clock)."""
    return float(page.evaluate("locatorChoropleth.ready"))


# --------------------------------------------------------------------------- coverage
@needs_chromium
def test_a_national_district_coverage_map(
    run: dict[str, Any],
    open_map: Callable[..., Opened],
    tmp_path: Path,
    output_dir: Path,
) -> None:
    districts: gpd.GeoDataFrame = run["districts"]
    worst, siting = run["worst"], run["siting"]
    assert len(districts) > 900 and districts["share_beyond_10"].max() > 0.5
    m = coverage_map(
        districts,
        10,
        worst=worst,
        sites=siting,
        title_th="ช่องว่างการเข้าถึงบริการโอนที่ดิน",
        title_en="Land title transfer: coverage gaps",
        warning=run["warning"],
    )
    out = save(m, tmp_path / "districts.html")
    html = out.read_text(encoding="utf-8")
    assert remote_resources(html) == []
    assert out.stat().st_size < 1_500_000  # simplified, coordinates rounded

    times = []
    for _ in range(3):  # the first opening also warms Chromium up: the best of three
        opened = open_map(out, READY)
        times.append(_render_ms(opened.page))
    page = opened.page
    print(f"national district choropleth rendered in {min(times):.0f} ms (runs: {times})")
    # the render target (<= 2 s) is measured by bench/coverage_map.py, not asserted here:
    # a timed assertion fails on a busy machine, a bench reports

    # every district on the canvas, coloured by its class
    assert page.evaluate("locatorChoropleth.areas") == len(districts)
    assert page.evaluate("locatorChoropleth.error") is None
    painted = _painted(page)
    assert painted["painted"] > 50_000
    seen = [s for s in COVERAGE_SHADES if painted[s.color] > 50]
    assert len(seen) >= 4, painted
    # the worst units and the suggested sites, each a layer of its own
    assert count(page, "path.locator-worst") == len(worst) == 20
    assert count(page, ".locator-site") == 5
    assert page.inner_text(".locator-site >> nth=0") == "1"
    control = page.inner_text(".leaflet-control-layers-overlays")
    assert "Share more than 10 km away" in control
    assert "Worst-served units (20)" in control and "Suggested sites (5)" in control
    # the legend: title, classes in both languages with their counts, the warning
    legend = page.inner_text(".locator-legend")
    assert "ช่องว่างการเข้าถึงบริการโอนที่ดิน · Land title transfer: coverage gaps" in legend
    for shade in COVERAGE_SHADES:
        assert f"{shade.label_th} · {shade.label_en} (" in legend, shade
    assert "by district" in legend and "suggested sites: +" in legend
    gained = int(siting.sites["people_gained"].sum())
    assert f"+{gained:,} people within 10 km" in legend
    assert "not facts" in page.inner_text(".locator-legend .locator-warning")
    assert count(page, ".locator-legend .choro-swatch") >= len(COVERAGE_SHADES)
    page.wait_for_timeout(300)
    page.screenshot(path=str(output_dir / "coverage-district.png"))

    # a click on a district: its figures, as text
    far = districts.sort_values("share_beyond_10").iloc[-1]
    point = far.geometry.representative_point()
    page.evaluate(
        "([lat, lon]) => { locatorChoropleth.map.setView([lat, lon], 9, {animate: false}); }",
        [point.y, point.x],
    )
    popup = _click_area(page, point.y, point.x)
    assert far["name_th"] in popup and far["name_en"] in popup, popup
    assert f"Population: {far['population']:,}" in popup
    assert f"People more than 10 km away: {far['population_beyond_10']:,}" in popup
    assert f"Share: {far['share_beyond_10'] * 100:.1f}%" in popup
    page.wait_for_timeout(300)
    page.screenshot(path=str(output_dir / "coverage-district-popup.png"))

    # a worst unit's and a site's popups
    first = worst.iloc[0]
    text_ = _popup_of(page, "path.locator-worst")
    assert first["name_en"] in text_ and "To the nearest point:" in text_
    assert distance_words(first["distance_m"]) in text_
    site = _popup_of(page, ".locator-site")
    top = siting.sites.iloc[0]
    assert "Suggested site #1" in site and f"{int(top['people_gained']):,}" in site

    # the layers switch off
    page.get_by_label(re.compile("Worst-served units")).uncheck()
    assert count(page, "path.locator-worst") == 0
    page.get_by_label(re.compile("Suggested sites")).uncheck()
    assert count(page, ".locator-site") == 0
    page.get_by_label(re.compile("Share more than")).uncheck()
    assert page.evaluate("locatorChoropleth.map.hasLayer(locatorChoropleth.layers.areas)") is False
    assert opened.errors == []
    assert opened.left == []  # nothing left the machine


@needs_chromium
def test_a_national_tambon_coverage_map_stays_usable(
    run: dict[str, Any],
    open_map: Callable[..., Opened],
    tmp_path: Path,
    output_dir: Path,
) -> None:
    tambons: gpd.GeoDataFrame = run["tambons"]
    assert len(tambons) > 7000
    m = coverage_map(
        tambons,
        20,
        worst=run["worst"],
        title_th="ช่องว่างการเข้าถึงบริการโอนที่ดิน รายตำบล",
        title_en="Land title transfer: gaps by tambon",
        warning=run["warning"],
    )
    out = save(m, tmp_path / "tambons.html")
    assert out.stat().st_size < 4_000_000
    opened = open_map(out, READY)
    page = opened.page
    ms = _render_ms(page)
    print(f"national tambon choropleth rendered in {ms:.0f} ms")
    assert page.evaluate("locatorChoropleth.areas") == len(tambons)
    assert _painted(page)["painted"] > 50_000
    legend = page.inner_text(".locator-legend")
    assert "more than 20 km away" in legend and "by tambon" in legend
    assert "Suggested sites" not in page.inner_text(".leaflet-control-layers-overlays")
    page.wait_for_timeout(300)
    page.screenshot(path=str(output_dir / "coverage-tambon.png"))
    # zoomed in on the north, where the gaps are: panning and redrawing stay quick
    started = page.evaluate("performance.now()")
    page.evaluate("() => { locatorChoropleth.map.setView([18.9, 98.6], 9, {animate: false}); }")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    redraw = page.evaluate("performance.now()") - started
    print(f"zoomed redraw of the tambon map: {redraw:.0f} ms")
    page.wait_for_timeout(300)
    page.screenshot(path=str(output_dir / "coverage-tambon-north.png"))
    assert opened.errors == [] and opened.left == []


@needs_chromium
def test_names_in_a_coverage_map_are_text(
    engine: Engine, open_map: Callable[..., Opened], tmp_path: Path
) -> None:
    """Names come from data: a hostile one stays text in popups, tooltips and markers."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name_th, name_en, population, ST_AsBinary(geom) AS wkb "
                "FROM admin_area WHERE level = 'district' AND code LIKE '50%' ORDER BY code"
            )
        ).all()
    areas = gpd.GeoDataFrame(
        {
            "code": [r.code for r in rows],
            "name_th": [XSS if i == 0 else r.name_th for i, r in enumerate(rows)],
            "name_en": [f"</script>{XSS}" if i == 0 else r.name_en for i, r in enumerate(rows)],
            "population": [r.population for r in rows],
            "population_beyond_10": [r.population // (i + 1) for i, r in enumerate(rows)],
            "share_beyond_10": [1 / (i + 1) for i in range(len(rows))],
        },
        geometry=shapely.from_wkb([bytes(r.wkb) for r in rows]),
        crs=4326,
    )
    first = areas.iloc[[0]]
    beside = areas.geometry.iloc[1].representative_point()  # the markers: another district
    worst = gpd.GeoDataFrame(
        first[["code", "name_th", "name_en", "population"]].assign(distance_m=31_000.0),
        geometry=[beside],
        crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {
            "order": [1],
            "code": ["500101"],
            "name_th": [XSS],
            "name_en": [XSS],
            "people_gained": [9],
        },
        geometry=[beside],
        crs=4326,
    )
    m = coverage_map(
        areas, 10, worst=worst, sites=sites, title_th=XSS, title_en="hostile", level="district"
    )
    out = save(m, tmp_path / "hostile.html")
    opened = open_map(out, READY)
    page = opened.page
    assert page.evaluate("locatorChoropleth.areas") == len(areas)
    point = first.geometry.iloc[0].representative_point()
    page.evaluate(
        "([lat, lon]) => { locatorChoropleth.map.setView([lat, lon], 10, {animate: false}); }",
        [point.y, point.x],
    )
    popup = _click_area(page, point.y, point.x)
    assert XSS in popup and f"</script>{XSS}" in popup
    assert XSS in _popup_of(page, "path.locator-worst")
    assert XSS in _popup_of(page, ".locator-site")
    assert XSS in page.inner_text(".locator-legend h1")
    assert page.evaluate("window.__pwned") is None
    assert count(page, ".leaflet-popup img, .locator-legend img, .locator-site img") == 0
    assert opened.errors == [] and opened.left == []


def test_a_coverage_map_needs_polygons_and_a_threshold_it_has(run: dict[str, Any]) -> None:
    result = run["result"]
    points = coverage.aggregate(result, "district")  # representative points only
    with pytest.raises(InvalidInput, match="with_polygons=True"):
        coverage_map(points, 10, title_th="x", title_en="x")
    with pytest.raises(InvalidInput, match=r"no share_beyond_15 column.*share_beyond_5"):
        coverage_map(run["districts"], 15, title_th="x", title_en="x")
    # 10 and 10.0 are the same threshold
    render(coverage_map(run["districts"], 10.0, title_th="x", title_en="x"))


def test_light_polygons_keep_shared_borders(engine: Engine) -> None:
    """Simplified as one coverage: no gap or overlap opens between neighbours."""
    with engine.connect() as conn:
        wkb = conn.execute(
            text("SELECT ST_AsBinary(geom) FROM admin_area WHERE level = 'district' ORDER BY code")
        ).scalars()
        geoms = shapely.from_wkb([bytes(w) for w in wkb])
    light = light_polygons(geoms, SIMPLIFY_DEG["district"])
    assert shapely.get_num_coordinates(light).sum() < shapely.get_num_coordinates(geoms).sum()
    assert shapely.is_valid(light).all()
    union_before = shapely.union_all(geoms).area
    # the simplified areas add up to the simplified whole: no overlaps
    assert abs(shapely.area(light).sum() - shapely.union_all(light).area) < 1e-4
    assert abs(shapely.union_all(light).area - union_before) / union_before < 0.01


# --------------------------------------------------------------------------- no-copy
def test_no_copy_by_province_is_what_the_stats_say(engine: Engine) -> None:
    with engine.connect() as conn:
        areas = no_copy_by_province(conn)
        stats = registry_stats(conn)["by_province"]
        one_service = no_copy_by_province(conn, PointFilter(service=SERVICE, status="any"))
        direct: dict[str, int] = dict(
            conn.execute(
                text(
                    "SELECT left(p.tambon_code, 2), count(*) FROM offering o "
                    "JOIN service_point p ON p.id = o.point_id "
                    "WHERE o.service_code = :s GROUP BY 1"
                ),
                {"s": SERVICE},
            ).all()
        )
    assert len(areas) == 77 and areas.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    for row in areas.drop(columns="geometry").to_dict("records"):
        entry = stats[row["code"]]
        assert row["offerings"] == entry["offerings"]
        assert row["no_copy_offerings"] == entry["no_copy_offerings"]
        if entry["no_copy_share"] is not None:
            assert round(row["no_copy_share"], 4) == entry["no_copy_share"]
    assert dict(zip(one_service["code"], one_service["offerings"], strict=True)) == {
        code: direct.get(code, 0) for code in one_service["code"]
    }


@needs_chromium
def test_the_no_copy_map_says_its_statuses_are_generated(
    engine: Engine,
    open_map: Callable[..., Opened],
    tmp_path: Path,
    output_dir: Path,
) -> None:
    with engine.connect() as conn:
        areas = no_copy_by_province(conn)
        out = save(no_copy_map(conn), tmp_path / "no-copy.html")
    assert remote_resources(out.read_text(encoding="utf-8")) == []
    opened = open_map(out, READY)
    page = opened.page
    assert page.evaluate("locatorChoropleth.areas") == 77
    painted = _painted(page)
    assert painted["painted"] > 50_000
    assert len([s for s in NO_COPY_SHADES if painted[s.color] > 50]) >= 3, painted
    legend = page.inner_text(".locator-legend")
    assert "สัดส่วนบริการที่ไม่ต้องใช้สำเนา · No-Copy share by province" in legend
    for shade in NO_COPY_SHADES:
        assert f"{shade.label_th} · {shade.label_en} (" in legend
    offerings, no_copy = int(areas["offerings"].sum()), int(areas["no_copy_offerings"].sum())
    assert f"Nationally: {no_copy:,} of {offerings:,} offerings" in legend
    warning = page.inner_text(".locator-legend .locator-warning")
    assert "generated (synthetic) data" in warning and "not a fact" in warning
    assert "ข้อมูลสมมุติ" in warning
    assert "(generated data)" in page.inner_text(".leaflet-control-layers-overlays")
    page.wait_for_timeout(300)
    page.screenshot(path=str(output_dir / "coverage-no-copy.png"))
    # a province's popup: its figures, and that they are generated
    chiang_mai = areas.set_index("code").loc["50"]
    point = areas.loc[areas["code"] == "50"].geometry.iloc[0].representative_point()
    popup = _click_area(page, float(point.y), float(point.x))
    assert "เชียงใหม่" in popup and "Chiang Mai" in popup
    assert f"Offerings: {chiang_mai['offerings']:,}" in popup
    assert f"No-Copy share: {chiang_mai['no_copy_share'] * 100:.1f}%" in popup
    assert "Generated data, not a fact" in popup
    page.wait_for_timeout(300)
    page.screenshot(path=str(output_dir / "coverage-no-copy-popup.png"))
    assert opened.errors == [] and opened.left == []
