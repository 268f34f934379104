"""Areas coloured by a share, the machinery of the coverage map (``maps.coverage``) and
the No-Copy map (``maps.no_copy``).

The polygons travel once as one JSON document (in a <script> element that is not run,
``<`` escaped) and are drawn on one canvas by ``L.geoJSON`` (``assets/choropleth.js``):
a national tambon map is 7,400 polygons, and 7,400 SVG paths, or a popup object per
area, would make the page slow to open. Popups and tooltips are made on demand from
lines of text (``textContent``). Polygons are simplified as one coverage (neighbours
keep one shared border) and their coordinates rounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import folium
from branca.element import Element

from locator.maps.base import THAILAND, ScriptCall, inline_assets, page

if TYPE_CHECKING:
    import geopandas as gpd


@dataclass(frozen=True)
class Shade:
    """One class of a choropleth: shares in [low, high) (the last class includes its
    high), its colour and its label in Thai and English."""

    low: float
    high: float
    color: str
    label_th: str
    label_en: str

    def holds(self, share: float) -> bool:
        return self.low <= share < self.high or (self.high >= 1 and share == self.high)


NO_DATA_COLOR = "#d9d9d9"

# simplification tolerance (degrees) by level: about a tenth of a small unit's width,
# finer than a screen pixel at the zoom that shows the whole unit
SIMPLIFY_DEG: dict[str, float] = {"province": 0.005, "district": 0.002, "tambon": 0.0008}


def _shade_of(share: Any, shades: tuple[Shade, ...]) -> int:
    """The class index of ``share`` (0..1); ``len(shades)`` for no data."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return len(shades)
    value = min(max(float(share), 0.0), 1.0)
    for i, shade in enumerate(shades):
        if shade.holds(value):
            return i
    return len(shades)  # pragma: no cover - the shades cover 0..1


def number_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def people_text(value: Any) -> str:
    number = number_or_none(value)
    return "-" if number is None else f"{number:,.0f}"


def percent_text(share: Any) -> str:
    number = number_or_none(share)
    return "-" if number is None else f"{number * 100:.1f}%"


def light_polygons(geometries: Any, tolerance_deg: float, precision_deg: float = 1e-4) -> Any:
    """The polygons as light as a national map needs: simplified as one coverage (GEOS),
    so neighbours keep one shared border and no sliver opens between them, then rounded
    to ``precision_deg`` (1e-4 degrees: about 11 m). Polygons that are not a clean
    coverage are simplified one by one (topology preserved) instead."""
    import shapely

    geoms = shapely.make_valid(geometries)
    if tolerance_deg > 0 and len(geoms):
        try:
            geoms = shapely.coverage_simplify(geoms, tolerance_deg)
        except Exception:  # a GEOS error on input that is not a coverage
            geoms = shapely.simplify(geoms, tolerance_deg, preserve_topology=True)
    return shapely.set_precision(geoms, precision_deg)


def draw_choropleth(
    m: folium.Map,
    areas: gpd.GeoDataFrame,
    shades: tuple[Shade, ...],
    share_of: Any,
    prefixes: list[str],
    values_of: Callable[[Any], list[str]],
    tip: list[int],
    *,
    areas_label: str,
    tolerance_deg: float,
    points: list[dict[str, Any]],
) -> list[int]:
    """Put the areas (a GeoDataFrame in EPSG:4326) and the point layers on ``m``, each
    area coloured by its class; the count of areas per class (no data last).

    An area's popup is ``prefixes[i] + values_of(row)[i]`` line by line, its tooltip
    the values ``tip`` names (``a · b: c``): the words travel once, not 7,400 times."""
    import json

    import shapely

    if areas.crs is not None and areas.crs.to_epsg() != 4326:
        areas = areas.to_crs(4326)
    geoms = light_polygons(areas.geometry.values, tolerance_deg)
    counts = [0] * (len(shades) + 1)
    features = []
    for (_, row), geom in zip(areas.iterrows(), geoms, strict=True):
        if geom is None or geom.is_empty:
            continue  # a sliver of an area, gone at this precision
        k = _shade_of(share_of(row), shades)
        counts[k] += 1
        features.append(
            '{"type":"Feature","geometry":'
            + shapely.to_geojson(geom)
            + ',"properties":'
            + json.dumps({"k": k, "v": values_of(row)}, ensure_ascii=False)
            + "}"
        )
    spec = (
        '{"areas":{"type":"FeatureCollection","features":['
        + ",".join(features)
        + "]},"
        + json.dumps(
            {
                "colors": [s.color for s in shades] + [NO_DATA_COLOR],
                "stroke": "#4d4d4d",
                "weight": 0.6 if len(features) < 2000 else 0.3,
                "areasLabel": areas_label,
                "prefixes": prefixes,
                "tip": tip,
                "points": points,
            },
            ensure_ascii=False,
        )[1:]
    )
    # inside a <script> element: no "<" may close it early (JSON allows \u003c)
    spec = spec.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    element = f"locator-choropleth-{m.get_name()}"
    inline_assets(m, "choropleth")
    root = page(m)
    root.header.add_child(
        Element(
            "<style>"
            + "".join(
                f".locator-legend .locator-key.choro-{i} {{ background: {color}; }}\n"
                for i, color in enumerate([s.color for s in shades] + [NO_DATA_COLOR])
            )
            + "</style>"
        ),
        name="locator_choro_swatches",
    )
    root.html.add_child(
        Element(f'<script type="application/json" id="{element}">{spec}</script>'),
        name="locator_choro_data",
    )
    m.add_child(ScriptCall("locatorChoropleth.start", {"element": element}))
    w, s, e, n = (float(v) for v in areas.total_bounds) if len(areas) else THAILAND
    m.fit_bounds([[s, w], [n, e]], padding_top_left=(20, 20), padding_bottom_right=(20, 20))
    return counts


def shade_key(shades: tuple[Shade, ...], counts: list[int]) -> list[tuple[str, str]]:
    """The legend's key: each class's swatch, label and how many areas are in it."""
    key = [
        (f"choro-swatch choro-{i}", f"{s.label_th} · {s.label_en} ({counts[i]:,})")
        for i, s in enumerate(shades)
    ]
    if counts[-1]:
        key.append((f"choro-swatch choro-{len(shades)}", f"ไม่มีข้อมูล · no data ({counts[-1]:,})"))
    return key
