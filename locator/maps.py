"""Maps as single HTML files that open with no internet: folium on the vendored Leaflet.

The foundation every exported map shares (``offline_map``, ``save``):

- Leaflet's script and style sheet are inlined from ``locator/api/static/vendor/leaflet``
  (the citizen page's own copy), its images as ``data:`` URIs, and folium's default CDN
  links (Leaflet, jQuery, Bootstrap, Font Awesome, awesome-markers) are dropped; ``save``
  refuses to write a map that would still load a script, style sheet or image from
  elsewhere (``remote_resources``), so an element added later cannot make a map that
  needs the internet without anyone noticing.
- No street tiles by default (a basemap is optional): backgrounds come from the
  database, e.g. the imported roads around a route (``road_background``) or the
  administrative outlines (``area_background``).
- Text from the data (names, addresses, reasons) reaches the page only as JSON and is
  put in with ``textContent`` (``text_popup``, ``legend``): folium's own popups are
  HTML strings built by jQuery, and a name is not HTML.

On it: ``route_map``, the map of one route (``locator map route``).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template, tojavascript
from sqlalchemy import text

from locator import osrm, routing
from locator.db import Executor
from locator.errors import ConfigurationError
from locator.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "api" / "static"
LEAFLET_DIR = STATIC_DIR / "vendor" / "leaflet"

# the map's own look and its two helpers (popups and tooltips from text, the legend)
_MAP_CSS = """
.leaflet-container { background: #f4f3ee; font: 14px/1.4 "Sarabun", system-ui, sans-serif; }
.locator-popup strong { display: block; margin-bottom: 2px; font-weight: 600; }
.locator-legend { background: #fff; padding: 8px 12px; border-radius: 6px; max-width: 340px;
  box-shadow: 0 1px 4px rgba(0, 0, 0, .35); color: #1b1f24; }
.locator-legend h1 { font-size: 15px; font-weight: 600; margin: 0 0 4px; }
.locator-legend p { margin: 2px 0; }
.locator-legend .locator-warning { margin-top: 6px; padding: 6px 8px; background: #fff4d6;
  border-left: 4px solid #b26b00; }
.locator-legend .locator-key { display: inline-block; width: 28px; height: 0; margin-right: 6px;
  vertical-align: middle; border-top: 4px solid #1f5fbf; }
.locator-legend .locator-key.dashed { border-top: 3px dashed #5b6470; }
.locator-legend .locator-key.estimate { border-top: 4px dashed #b26b00; }
.locator-end { display: flex; align-items: center; justify-content: center; border-radius: 50%;
  background: #0b6b3a; color: #fff; font-weight: 600; border: 2px solid #fff;
  box-shadow: 0 0 0 1px #0b6b3a, 0 1px 4px rgba(0, 0, 0, .4); }
"""

_MAP_JS = """
window.locatorMaps = {
  /* a popup (and a tooltip) from lines of text: DOM nodes, never HTML strings */
  popup: function (layer, lines, tooltip) {
    var box = document.createElement("div");
    box.className = "locator-popup";
    lines.forEach(function (line, i) {
      var node = document.createElement(i === 0 ? "strong" : "div");
      node.textContent = line;
      box.appendChild(node);
    });
    layer.bindPopup(box, { maxWidth: 320 });
    if (tooltip) {
      var tip = document.createElement("span");
      tip.textContent = tooltip;
      layer.bindTooltip(tip, { direction: "top" });
    }
  },
  /* a box in a corner of the map: a title, lines, a key of line styles, a warning */
  legend: function (map, spec) {
    var Legend = L.Control.extend({
      onAdd: function () {
        var box = L.DomUtil.create("div", "locator-legend");
        var title = L.DomUtil.create("h1", "", box);
        title.textContent = spec.title;
        spec.lines.forEach(function (line) {
          L.DomUtil.create("p", "", box).textContent = line;
        });
        spec.key.forEach(function (item) {
          var p = L.DomUtil.create("p", "", box);
          L.DomUtil.create("span", "locator-key " + item[0], p);
          p.appendChild(document.createTextNode(item[1]));
        });
        if (spec.warning) {
          var warn = L.DomUtil.create("p", "locator-warning", box);
          warn.setAttribute("role", "note");
          warn.textContent = spec.warning;
        }
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    new Legend({ position: spec.position }).addTo(map);
  },
  /* a background (GeoJSON) drawn under everything else */
  lines: function (map, data, options) {
    L.geoJSON(data, options).addTo(map);
  }
};
"""


# --------------------------------------------------------------------------- the base
def _data_uri(path: Path, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _font_css() -> str:
    """The citizen page's own @font-face rules (Sarabun, Thai and Latin), fonts inlined:
    a system without a Thai font shows Thai names all the same."""
    rules = re.findall(r"@font-face\s*\{[^}]*\}", (STATIC_DIR / "app.css").read_text("utf-8"))
    return "\n".join(
        re.sub(
            r"url\((vendor/[\w./-]+\.woff2)\)",
            lambda m: f'url("{_data_uri(STATIC_DIR / m.group(1), "font/woff2")}")',
            rule,
        )
        for rule in rules
    )


@lru_cache(maxsize=1)
def _leaflet_assets() -> tuple[str, str]:
    """The vendored Leaflet's CSS (its images inlined, and the page's font) and JS (no
    source-map comment)."""
    try:
        css = (LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")
        js = (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")
        images = {p.name: _data_uri(p) for p in (LEAFLET_DIR / "images").glob("*.png")}
        fonts = _font_css()
    except OSError as exc:
        raise ConfigurationError(
            f"the vendored Leaflet is missing ({exc.filename}): reinstall the package"
        ) from exc
    css = re.sub(
        r"url\((['\"]?)images/([\w.-]+\.png)\1\)",
        lambda m: f'url("{images[m.group(2)]}")',
        css,
    )
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    # Leaflet finds its default marker images through the CSS; data: URIs need saying
    icons = (
        'L.Icon.Default.imagePath = "";\n'
        "L.Icon.Default.mergeOptions({"
        f'iconUrl: "{images["marker-icon.png"]}", '
        f'iconRetinaUrl: "{images["marker-icon-2x.png"]}", '
        f'shadowUrl: "{images["marker-shadow.png"]}"}});\n'
    )
    css = fonts + "\n" + css
    for source in (css, js):
        if re.search(r"</(style|script)", source, re.I):  # pragma: no cover - vendored
            raise ConfigurationError("the vendored Leaflet cannot be inlined")
    return css, js + "\n" + icons


def offline_map(title: str, *, prefer_canvas: bool = False, **options: Any) -> folium.Map:
    """An empty folium map that needs no internet: Leaflet inlined, no CDN link, no tiles.

    ``title`` is the page's title; ``options`` go to ``folium.Map`` (``location``,
    ``zoom_start``, ...). ``prefer_canvas`` for maps of many thousands of features.
    """
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=prefer_canvas, **options)
    # folium's CDN resources are class attributes; this map has none of them
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    assert isinstance(root, Figure)
    root.title = title
    css, js = _leaflet_assets()
    header = root.header
    header.add_child(Element(f"<style>{css}</style>"), name="locator_leaflet_css")
    header.add_child(Element(f"<script>{js}</script>"), name="locator_leaflet_js")
    header.add_child(Element(f"<style>{_MAP_CSS}</style>"), name="locator_map_css")
    header.add_child(Element(f"<script>{_MAP_JS}</script>"), name="locator_map_js")
    return m


class _Call(MacroElement):
    """``function(layer, *arguments)`` run once the parent layer (or map) exists; the
    arguments are JSON, safe inside a <script> element (``<``, ``>``, ``&`` escaped)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this.function }}({{ this._parent.get_name() }}"
        "{% for a in this.arguments %}, {{ a }}{% endfor %});\n"
        "{% endmacro %}"
    )

    def __init__(self, function: str, *arguments: Any) -> None:
        cast(Any, MacroElement).__init__(self)  # branca's own __init__ is untyped
        self._name = "Call"
        self.function = function
        self.arguments = [tojavascript(a) for a in arguments]


def text_popup(layer: Any, lines: list[str], tooltip: str | None = None) -> None:
    """Give ``layer`` (a marker or a line) a popup of ``lines`` (the first in bold) and
    a ``tooltip``, both plain text."""
    layer.add_child(_Call("locatorMaps.popup", lines, tooltip))


def legend(
    m: folium.Map,
    title: str,
    lines: list[str],
    *,
    key: list[tuple[str, str]] | None = None,
    warning: str | None = None,
    position: str = "topright",
) -> None:
    """A box on the map: a title, lines of text, a key (CSS class of a line sample, what
    it means) and a warning in its own frame, all plain text."""
    spec = {
        "title": title,
        "lines": lines,
        "key": [list(k) for k in key or []],
        "warning": warning,
        "position": position,
    }
    m.add_child(_Call("locatorMaps.legend", spec))


def static_lines(m: folium.Map, geojson: dict[str, Any], style: dict[str, Any]) -> None:
    """A background of lines or outlines (GeoJSON) that takes no clicks."""
    m.add_child(_Call("locatorMaps.lines", geojson, {"interactive": False, "style": style}))


_REMOTE = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|<img\b[^>]*\bsrc\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')\s]+)"""
    r"""|@import\s+["']((?:https?:)?//[^"']+)""",
    re.I,
)


def remote_resources(html: str) -> list[str]:
    """Every script, style sheet, image or font the page would fetch from elsewhere."""
    return [next(g for g in m.groups() if g) for m in _REMOTE.finditer(html)]


def render(m: folium.Map) -> str:
    """The map's HTML; refuses one that would need the internet."""
    html = m.get_root().render()
    remote = remote_resources(html)
    if remote:
        raise ConfigurationError(
            f"the map would load {remote[0]} from the internet ({len(remote)} such "
            "resources); every map must open offline"
        )
    return html


def save(m: folium.Map, path: Path) -> Path:
    html = render(m)
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from exc
    return path


# --------------------------------------------------------------------------- backgrounds
Bounds = tuple[float, float, float, float]
"""west, south, east, north (degrees)."""


def padded(bounds: Bounds, fraction: float = 0.25, minimum_deg: float = 0.004) -> Bounds:
    w, s, e, n = bounds
    dx = max((e - w) * fraction, minimum_deg)
    dy = max((n - s) * fraction, minimum_deg)
    return (w - dx, s - dy, e + dx, n + dy)


def road_background(db: Executor, bounds: Bounds, limit: int = 20_000) -> dict[str, Any] | None:
    """The imported road graph's edges in ``bounds`` (at most ``limit``), as one GeoJSON
    MultiLineString; None when no imported road lies there."""
    w, s, e, n = bounds
    row = db.execute(
        text(
            "SELECT ST_AsGeoJSON(ST_Collect(geom), 6) FROM ("
            "  SELECT geom FROM road_edge WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
            "  LIMIT :limit) edges"
        ),
        {"w": w, "s": s, "e": e, "n": n, "limit": limit},
    ).scalar()
    return _feature(row)


def area_background(db: Executor, bounds: Bounds) -> dict[str, Any] | None:
    """District outlines (provinces over a wide view) in ``bounds``, simplified to the
    view; None outside the reference data."""
    w, s, e, n = bounds
    level = "district" if max(e - w, n - s) < 1.5 else "province"
    row = db.execute(
        text(
            "SELECT ST_AsGeoJSON(ST_Collect(ST_Boundary("
            "  ST_SimplifyPreserveTopology(geom, :tol))), 5) "
            "FROM admin_area, ST_MakeEnvelope(:w, :s, :e, :n, 4326) env "
            "WHERE level = :level AND geom && env"
        ),
        {"w": w, "s": s, "e": e, "n": n, "level": level, "tol": max(e - w, n - s) / 2000},
    ).scalar()
    return _feature(row)


def _feature(geometry_json: str | None) -> dict[str, Any] | None:
    if not geometry_json:
        return None
    import json

    return {"type": "Feature", "properties": {}, "geometry": json.loads(geometry_json)}


# --------------------------------------------------------------------------- a route
# folium's vector layers take untyped **kwargs (Leaflet's path options)
_PolyLine = cast(Any, folium.PolyLine)
_CircleMarker = cast(Any, folium.CircleMarker)

MODE_WORDS: dict[osrm.Mode, tuple[str, str]] = {
    "drive": ("เส้นทางรถยนต์", "by car"),
    "walk": ("เส้นทางเดินเท้า", "on foot"),
}


def distance_words(metres: float) -> str:
    if metres < 1000:
        return f"{metres:.0f} m"
    return f"{metres / 1000:.1f} km" if metres < 100_000 else f"{metres / 1000:,.0f} km"


def duration_words(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _latlon(lon_lat: list[float]) -> list[float]:
    return [lon_lat[1], lon_lat[0]]


@dataclass(frozen=True)
class Destination:
    """What the route leads to, in words: a service point, or a place."""

    lines: list[str]
    tooltip: str


def describe_destination(db: Executor, dest: routing.Place) -> Destination:
    where = f"{dest.lat:.5f}, {dest.lon:.5f}"
    if dest.point_id is None:
        return Destination(["Destination", where], where)
    row = db.execute(
        text(
            "SELECT name_th, name_en, kind, source, status, address_en "
            "FROM service_point WHERE id = :id"
        ),
        {"id": dest.point_id},
    ).one()
    lines = [
        str(row.name_en or row.name_th),
        str(row.name_th),
        f"{str(row.kind).replace('_', ' ')} · service point {dest.point_id}",
    ]
    if row.source == "generated":
        lines.append("generated for the demo: not a real office")
    if row.status != "active":
        lines.append(f"status: {str(row.status).replace('_', ' ')}")
    if row.address_en:
        lines.append(str(row.address_en))
    lines.append(where)
    return Destination(lines, str(row.name_en or row.name_th))


def route_map(
    route: dict[str, Any],
    origin: routing.Place,
    dest: routing.Place,
    destination: Destination,
    backgrounds: list[tuple[str, dict[str, Any]]] | None = None,
) -> folium.Map:
    """The map of a route answered by ``locator.routing.route``: the line, both ends
    with popups, where each end joins the road (a dashed line to it), time and distance
    in the legend and the title; a straight-line estimate is labelled as one."""
    mode: osrm.Mode = route["mode"]
    estimate = route["method"] == "straight_line"
    th, en = MODE_WORDS[mode]
    distance = distance_words(route["distance_m"])
    duration = duration_words(route["duration_s"])
    if estimate:
        title = f"Straight-line estimate, not a road route: {distance}, about {duration}"
    else:
        title = f"{th} · Route {en}: {distance}, {duration}"

    line = [_latlon(c) for c in route["geometry"]["coordinates"]]
    snapped = {end: _latlon(route["snapped"][end]) for end in ("from", "to")}
    ends = {"from": [origin.lat, origin.lon], "to": [dest.lat, dest.lon]}
    lats = [p[0] for p in [*line, *ends.values(), *snapped.values()]]
    lons = [p[1] for p in [*line, *ends.values(), *snapped.values()]]
    bounds: Bounds = (min(lons), min(lats), max(lons), max(lats))

    m = offline_map(title)
    for name, background in backgrounds or []:
        style = (
            {"color": "#9aa3ad", "weight": 2, "opacity": 0.9}
            if name == "roads"
            else {"color": "#8a8f98", "weight": 1, "opacity": 0.8, "dashArray": "2 4"}
        )
        static_lines(m, background, style)

    route_line = _PolyLine(
        line,
        color="#b26b00" if estimate else "#1f5fbf",
        weight=5,
        opacity=0.9,
        dash_array="10 8" if estimate else None,
        class_name="locator-route" + (" locator-estimate" if estimate else ""),
    ).add_to(m)
    text_popup(
        route_line,
        [
            "Straight line (an estimate)" if estimate else f"Route {en}",
            f"{distance}, {duration}",
        ],
        f"{distance}, {duration}",
    )

    if not estimate:  # where OSRM joined each end to the road
        for end, word in (("from", "start"), ("to", "destination")):
            metres = route["snap_distance_m"][end]
            _PolyLine(
                [ends[end], snapped[end]],
                color="#5b6470",
                weight=3,
                dash_array="4 6",
                class_name="locator-snap-line",
            ).add_to(m)
            snap = _CircleMarker(
                snapped[end],
                radius=5,
                color="#1b1f24",
                weight=2,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=1,
                class_name="locator-snap",
            ).add_to(m)
            text_popup(
                snap,
                [
                    f"Where the {word} joins the road",
                    f"{metres:.0f} m from the {word}",
                    f"{snapped[end][0]:.5f}, {snapped[end][1]:.5f}",
                ],
                f"the {word} joins the road here ({metres:.0f} m)",
            )

    start = folium.Marker(
        ends["from"],
        icon=folium.DivIcon(
            html="A", icon_size=(26, 26), icon_anchor=(13, 13), class_name="locator-end"
        ),
        title="Start",
        alt="Start",
    ).add_to(m)
    text_popup(start, ["Start", f"{origin.lat:.5f}, {origin.lon:.5f}"], "start")
    finish = folium.Marker(ends["to"], title=destination.tooltip, alt="Destination").add_to(m)
    text_popup(finish, destination.lines, destination.tooltip)

    lines = [f"{distance} · {duration}"]
    if estimate:
        speed = route["estimate"]["assumed_speed_kmh"]
        lines.append(f"as the crow flies, at an assumed {speed:g} km/h")
        warning = (
            "A straight-line estimate, not a road route: "
            f"{route['estimate']['reason']}. The real way by road is longer."
        )
        key = [("estimate", "straight line between the two ends")]
    else:
        lines.append(f"on the imported roads (OSRM, {osrm.PROFILES[mode]} profile)")
        lines.append(
            f"ends joined to the road {route['snap_distance_m']['from']:.0f} m and "
            f"{route['snap_distance_m']['to']:.0f} m away"
        )
        warning = None
        key = [("", "the route"), ("dashed", "from each end to where it joins the road")]
    lines.append(f"to: {destination.tooltip}")
    legend(
        m,
        "ค่าประมาณเส้นตรง · Straight-line estimate" if estimate else f"{th} · Route {en}",
        lines,
        key=key,
        warning=warning,
    )
    w, s, e, n = bounds
    # the legend takes the top right corner: the route is fitted beside it
    m.fit_bounds([[s, w], [n, e]], padding_top_left=(40, 40), padding_bottom_right=(380, 40))
    return m


def make_route_map(
    db: Executor, settings: Settings, from_: str, to: str, mode: osrm.Mode
) -> tuple[folium.Map, dict[str, Any]]:
    """Parse both ends (``lat,lon``; ``to`` may be a point id), route, draw. Returns the
    map and the route as ``/v1/route`` would answer it."""
    origin = routing.parse_place(from_, "from")
    dest = routing.resolve(db, routing.parse_place(to, "to"))
    route = routing.route(settings, origin, dest, mode)
    route["destination_point_id"] = dest.point_id
    coords = [*route["geometry"]["coordinates"], *route["snapped"].values()]
    view = padded(
        (
            min(c[0] for c in coords),
            min(c[1] for c in coords),
            max(c[0] for c in coords),
            max(c[1] for c in coords),
        )
    )
    backgrounds = []
    for name, fetch in (("areas", area_background), ("roads", road_background)):
        found = fetch(db, view)
        if found is not None:
            backgrounds.append((name, found))
    m = route_map(route, origin, dest, describe_destination(db, dest), backgrounds)
    return m, route
