"""The coverage map: the share of people beyond a threshold from the nearest point, by
district or tambon (issue 13), with the worst-served units and suggested sites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import folium
from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.maps.base import distance_words, duration_words, legend, offline_map
from locator.maps.choropleth import (
    SIMPLIFY_DEG,
    Shade,
    draw_choropleth,
    number_or_none,
    people_text,
    percent_text,
    shade_key,
)

if TYPE_CHECKING:
    import geopandas as gpd

# share of people beyond the threshold: none is its own class (no gap at all), then a
# sequential ramp to dark red
COVERAGE_SHADES = (
    Shade(0.0, 1e-9, "#f7fcf5", "ไม่มีเลย (0%)", "none (0%)"),
    Shade(1e-9, 0.05, "#ffeda0", "น้อยกว่า 5%", "under 5%"),
    Shade(0.05, 0.10, "#fed976", "5-10%", "5-10%"),
    Shade(0.10, 0.25, "#fd8d3c", "10-25%", "10-25%"),
    Shade(0.25, 0.50, "#e31a1c", "25-50%", "25-50%"),
    Shade(0.50, 1.0, "#800026", "50% ขึ้นไป", "50% or more"),
)

LEVEL_BY_CODE_LENGTH: dict[int, str] = {2: "province", 4: "district", 6: "tambon"}
LEVEL_WORDS: dict[str, tuple[str, str]] = {
    "province": ("จังหวัด", "province"),
    "district": ("อำเภอ/เขต", "district"),
    "tambon": ("ตำบล/แขวง", "tambon"),
}
UNIT_WORDS: dict[str, tuple[str, str]] = {"km": ("กม.", "km"), "min": ("นาที", "min")}


def level_of(areas: gpd.GeoDataFrame) -> str:
    """District, tambon or province, from the length of the DOPA codes."""
    codes = [str(c) for c in areas["code"]] if "code" in areas and len(areas) else []
    lengths = {len(c) for c in codes}
    if len(lengths) == 1 and (length := lengths.pop()) in LEVEL_BY_CODE_LENGTH:
        return LEVEL_BY_CODE_LENGTH[length]
    return "district"


def _point_lat_lon(geometry: Any) -> tuple[float, float]:
    point = geometry if geometry.geom_type == "Point" else geometry.representative_point()
    return round(float(point.y), 5), round(float(point.x), 5)


def share_column(areas: gpd.GeoDataFrame, threshold: float) -> str:
    """The ``share_beyond_<t>`` column of ``threshold`` (10 or 10.0 alike)."""
    for name in (f"share_beyond_{threshold}", f"share_beyond_{threshold:g}"):
        if name in areas.columns:
            return name
    have = [c for c in areas.columns if str(c).startswith("share_beyond_")]
    raise InvalidInput(
        f"threshold: no share_beyond_{threshold:g} column in the areas; they hold "
        f"{', '.join(have) or 'no share_beyond_ column'}",
        parameter="threshold",
    )


def coverage_map(
    areas: gpd.GeoDataFrame,
    threshold: float,
    *,
    worst: gpd.GeoDataFrame | None = None,
    sites: Any = None,
    title_th: str,
    title_en: str,
    unit: Literal["km", "min"] = "km",
    level: str | None = None,
    warning: str | None = None,
    tolerance_deg: float | None = None,
) -> folium.Map:
    """A choropleth of the share of people more than ``threshold`` (``unit``: km, or
    minutes by road) from the nearest point, by district or tambon.

    ``areas`` is ``locator.analysis.coverage.aggregate``'s GeoDataFrame (code, name_th, name_en,
    population, population_beyond_<t>, share_beyond_<t>, polygons); ``worst`` the units
    of ``coverage.worst_units`` and ``sites`` the ``.sites`` of ``coverage.suggest_sites``
    (or the SitingResult itself), each a layer of its own that can be switched off.
    ``warning`` is said in its own frame in the legend: the demo registry's points are
    partly generated, so a gap on a map of them is not a fact (``demo_data_warning``).
    """
    if len(areas) and not areas.geom_type.isin(["Polygon", "MultiPolygon"]).any():
        raise InvalidInput(
            "areas: a choropleth needs the areas' polygons, not their points "
            "(coverage.aggregate(..., with_polygons=True))",
            parameter="areas",
        )
    level = level or level_of(areas)
    tolerance = SIMPLIFY_DEG.get(level, 0.002) if tolerance_deg is None else tolerance_deg
    share = share_column(areas, threshold)
    beyond = share.replace("share_", "population_", 1)
    u_th, u_en = UNIT_WORDS[unit]
    t = f"{threshold:g}"
    far_th, far_en = f"ห่างเกิน {t} {u_th}", f"more than {t} {u_en} away"

    prefixes = [
        "",
        "",
        "ประชากร · Population: ",
        f"{far_th} · People {far_en}: ",
        "สัดส่วน · Share: ",
        "รหัส · Code ",
    ]

    def values_of(row: Any) -> list[str]:
        return [
            str(row.get("name_th") or row.get("name_en") or row.get("code")),
            str(row.get("name_en") or ""),
            people_text(row.get("population")),
            people_text(row.get(beyond)),
            percent_text(row.get(share)),
            str(row.get("code")),
        ]

    points: list[dict[str, Any]] = []
    legend_lines = [
        f"สัดส่วนประชากรที่อยู่{far_th}จากจุดบริการที่ใกล้ที่สุด · "
        f"Share of people {far_en} from the nearest point, by {LEVEL_WORDS[level][1]}",
    ]
    total = number_or_none(areas["population"].sum()) if "population" in areas else None
    far = number_or_none(areas[beyond].sum()) if beyond in areas else None
    if total and far is not None:
        legend_lines.append(
            f"รวม · In all: {far:,.0f} of {total:,.0f} people ({far / total * 100:.1f}%) {far_en}"
        )
    key: list[tuple[str, str]] = []
    if worst is not None and len(worst):
        items = []
        for _, row in worst.iterrows():
            lat, lon = _point_lat_lon(row.geometry)
            lines = [
                str(row.get("name_th") or row.get("name_en") or row.get("code")),
                str(row.get("name_en") or ""),
                f"ประชากร · Population: {people_text(row.get('population'))}",
            ]
            distance = number_or_none(row.get("distance_m"))
            if distance is not None:
                lines.append(f"ถึงจุดที่ใกล้ที่สุด · To the nearest point: {distance_words(distance)}")
            travel = number_or_none(row.get("travel_s"))
            if travel is not None:
                lines.append(f"เวลาเดินทาง · By road: {duration_words(travel)}")
            if number_or_none(row.get(share)) is not None:
                lines.append(f"{far_th} · {far_en}: {percent_text(row.get(share))}")
            nearest = number_or_none(row.get("nearest_point_id"))
            if nearest is not None:
                lines.append(f"จุดที่ใกล้ที่สุด · Nearest point: id {nearest:.0f}")
            lines.append(f"รหัส · Code {row.get('code')}")
            items.append(
                {
                    "lat": lat,
                    "lon": lon,
                    "lines": lines,
                    "tip": f"{row.get('name_th') or ''} · {row.get('name_en') or ''}",
                }
            )
        points.append(
            {
                "key": "worst",
                "kind": "worst",
                "className": "locator-worst",
                "label": f"พื้นที่ห่างไกลที่สุด · Worst-served units ({len(items):,})",
                "items": items,
            }
        )
        key.append(("choro-worst", "พื้นที่ห่างไกลที่สุด · worst-served units"))
    site_frame = getattr(sites, "sites", sites)
    if site_frame is not None and len(site_frame):
        items = []
        gained_all = 0.0
        for i, (_, row) in enumerate(site_frame.iterrows(), start=1):
            lat, lon = _point_lat_lon(row.geometry)
            order = int(number_or_none(row.get("order")) or i)
            gained = number_or_none(row.get("people_gained")) or 0.0
            gained_all += gained
            items.append(
                {
                    "lat": lat,
                    "lon": lon,
                    "label": str(order),
                    "lines": [
                        f"ที่ตั้งที่เสนอ #{order} · Suggested site #{order}",
                        f"{row.get('name_th') or ''} · {row.get('name_en') or ''}",
                        f"ประชากรที่จะอยู่ในระยะ {t} {u_th} เพิ่มขึ้น · People brought within "
                        f"{t} {u_en}: {gained:,.0f}",
                        f"รหัส · Code {row.get('code')}",
                    ],
                    "tip": f"#{order} {row.get('name_th') or ''} · {row.get('name_en') or ''}",
                }
            )
        points.append(
            {
                "key": "sites",
                "kind": "site",
                "className": "locator-site-marker",
                "label": f"ที่ตั้งที่เสนอ · Suggested sites ({len(items):,})",
                "items": items,
            }
        )
        key.append(("choro-site", "ที่ตั้งที่เสนอ (ตามลำดับ) · suggested sites, in order"))
        legend_lines.append(
            f"{len(items):,} ที่ตั้งที่เสนอ · suggested sites: +{gained_all:,.0f} people "
            f"within {t} {u_en}"
        )
    title = f"{title_th} · {title_en}"
    m = offline_map(title, prefer_canvas=True)
    counts = draw_choropleth(
        m,
        areas,
        COVERAGE_SHADES,
        lambda row: row.get(share),
        prefixes,
        values_of,
        [0, 1, 4],
        areas_label=f"สัดส่วนที่{far_th} · Share {far_en}",
        tolerance_deg=tolerance,
        points=points,
    )
    legend_lines.append("คลิกพื้นที่เพื่อดูตัวเลข · Click an area for its figures")
    legend(
        m,
        title,
        legend_lines,
        key=shade_key(COVERAGE_SHADES, counts) + key,
        warning=warning,
        position="bottomleft",
    )
    return m


def demo_data_warning(db: Executor) -> str | None:
    """What to say on a coverage map of the demo registry: generated points are not real
    offices, so a gap (or its absence) drawn from them is not a fact. None when every
    point is real."""
    generated = db.execute(
        text("SELECT count(*) FROM service_point WHERE source = 'generated'")
    ).scalar_one()
    if not generated:
        return None
    return (
        f"ข้อมูลสาธิต: {generated:,} จุดบริการเป็นจุดสมมุติ ไม่ใช่สำนักงานจริง "
        f"ช่องว่างที่แสดงจึงไม่ใช่ข้อเท็จจริง · Demo data: {generated:,} of the service points "
        "are generated, not real offices, so the gaps shown are not facts."
    )
