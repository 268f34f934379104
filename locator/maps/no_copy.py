"""The No-Copy map: the share of offerings that need no photocopies, by province; its
legend and popups say that the No-Copy statuses are generated, not facts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import folium
from sqlalchemy import text

from locator.db.engine import Executor
from locator.maps.base import legend, offline_map
from locator.maps.choropleth import (
    SIMPLIFY_DEG,
    Shade,
    draw_choropleth,
    people_text,
    percent_text,
    shade_key,
)
from locator.query.filters import PointFilter, check_codes, conditions
from locator.registry.catalogue import service_names

if TYPE_CHECKING:
    import geopandas as gpd

# share of offerings that need no photocopies: low is the concern (orange), high green
NO_COPY_SHADES = (
    Shade(0.0, 0.50, "#d94801", "น้อยกว่า 50%", "under 50%"),
    Shade(0.50, 0.70, "#fd8d3c", "50-70%", "50-70%"),
    Shade(0.70, 0.80, "#fdd0a2", "70-80%", "70-80%"),
    Shade(0.80, 0.90, "#c7e9c0", "80-90%", "80-90%"),
    Shade(0.90, 0.95, "#74c476", "90-95%", "90-95%"),
    Shade(0.95, 1.0, "#238b45", "95% ขึ้นไป", "95% or more"),
)

NO_COPY_WARNING = (
    "สถานะไม่ต้องใช้สำเนาเป็นข้อมูลสมมุติที่สร้างขึ้นเพื่อการสาธิต ไม่ใช่ข้อเท็จจริง · "
    "The No-Copy statuses are generated (synthetic) data for the demo, not a fact about "
    "any office: no public source gives them."
)


def no_copy_by_province(db: Executor, f: PointFilter | None = None) -> gpd.GeoDataFrame:
    """Per province: offerings, those that need no photocopies, and their share, with
    the province polygons (a GeoDataFrame). The offerings are those of the points
    ``f`` selects (``locator.query.filters``; by default every offering of every point, as
    ``/v1/stats`` counts them); with ``f.service`` only that service's."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    f = f or PointFilter(status="any")
    check_codes(db, f)
    c = conditions(f)
    source = c.source if c.offering else f"{c.source} JOIN offering o ON o.point_id = p.id"
    counts = {
        str(r.province): (int(r.offerings), int(r.no_copy))
        for r in db.execute(
            text(
                "SELECT left(p.tambon_code, 2) AS province, count(*) AS offerings, "
                "count(*) FILTER (WHERE cardinality(o.copies_required) = 0) AS no_copy "
                f"FROM {source} WHERE {c.sql()} GROUP BY 1"
            ),
            c.params,
        )
    }
    rows = db.execute(
        text(
            "SELECT code, name_th, name_en, population, ST_AsBinary(geom) AS wkb "
            "FROM admin_area WHERE level = 'province' ORDER BY code"
        )
    ).all()
    frame = pd.DataFrame(
        {
            "code": [r.code for r in rows],
            "name_th": [r.name_th for r in rows],
            "name_en": [r.name_en for r in rows],
            "population": [r.population for r in rows],
            "offerings": [counts.get(r.code, (0, 0))[0] for r in rows],
            "no_copy_offerings": [counts.get(r.code, (0, 0))[1] for r in rows],
        }
    )
    frame["no_copy_share"] = (frame["no_copy_offerings"] / frame["offerings"]).where(
        frame["offerings"] > 0
    )
    geometry = shapely.from_wkb([bytes(r.wkb) if r.wkb is not None else None for r in rows])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)


def no_copy_map(db: Executor, f: PointFilter | None = None) -> folium.Map:
    """No-Copy share by province (``no_copy_by_province``): a choropleth whose legend
    and popups say that the No-Copy statuses are generated, not facts."""
    areas = no_copy_by_province(db, f)
    scope = ""
    if f is not None and f.service is not None:
        names = service_names(db, f.service)
        scope = f" ({names[1] if names else f.service})"

    prefixes = [
        "",
        "",
        "บริการ · Offerings: ",
        "ไม่ต้องใช้สำเนา · Need no photocopies: ",
        "สัดส่วน · No-Copy share: ",
        "ข้อมูลสมมุติ ไม่ใช่ข้อเท็จจริง · Generated data, not a fact",
    ]

    def values_of(row: Any) -> list[str]:
        return [
            str(row["name_th"]),
            str(row["name_en"]),
            people_text(row["offerings"]),
            people_text(row["no_copy_offerings"]),
            percent_text(row["no_copy_share"]),
            "",
        ]

    title_th, title_en = "สัดส่วนบริการที่ไม่ต้องใช้สำเนา", "No-Copy share by province"
    title = f"{title_th} · {title_en}{scope}"
    m = offline_map(title, prefer_canvas=True)
    counts = draw_choropleth(
        m,
        areas,
        NO_COPY_SHADES,
        lambda row: row["no_copy_share"],
        prefixes,
        values_of,
        [0, 1, 4],
        areas_label="สัดส่วนที่ไม่ต้องใช้สำเนา · No-Copy share (generated data)",
        tolerance_deg=SIMPLIFY_DEG["province"],
        points=[],
    )
    offerings = int(areas["offerings"].sum())
    no_copy = int(areas["no_copy_offerings"].sum())
    lines = [
        "สัดส่วนบริการที่ไม่ต้องขอสำเนาเอกสาร แยกตามจังหวัด · Share of offerings that ask "
        "for no photocopies, by province" + scope,
    ]
    if offerings:
        lines.append(
            f"ทั้งประเทศ · Nationally: {no_copy:,} of {offerings:,} offerings "
            f"({no_copy / offerings * 100:.1f}%)"
        )
    lines.append("คลิกจังหวัดเพื่อดูตัวเลข · Click a province for its figures")
    legend(
        m,
        title,
        lines,
        key=shade_key(NO_COPY_SHADES, counts),
        warning=NO_COPY_WARNING,
        position="bottomleft",
    )
    return m
