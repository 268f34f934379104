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
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template, tojavascript
from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import ConfigurationError, InvalidInput
from locator.query.filters import PointFilter, Status, check_codes, conditions
from locator.registry.models import POINT_SOURCES, POINT_STATUSES
from locator.settings import Settings
from locator.travel.modes import PROFILES, Mode
from locator.travel.places import Place, parse_place, resolve
from locator.travel.route import route as find_route

if TYPE_CHECKING:
    import geopandas as gpd

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

MODE_WORDS: dict[Mode, tuple[str, str]] = {
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


def describe_destination(db: Executor, dest: Place) -> Destination:
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
    origin: Place,
    dest: Place,
    destination: Destination,
    backgrounds: list[tuple[str, dict[str, Any]]] | None = None,
) -> folium.Map:
    """The map of a route answered by ``locator.travel.route.route``: the line, both ends
    with popups, where each end joins the road (a dashed line to it), time and distance
    in the legend and the title; a straight-line estimate is labelled as one."""
    mode: Mode = route["mode"]
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
        lines.append(f"on the imported roads (OSRM, {PROFILES[mode]} profile)")
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
    db: Executor, settings: Settings, from_: str, to: str, mode: Mode
) -> tuple[folium.Map, dict[str, Any]]:
    """Parse both ends (``lat,lon``; ``to`` may be a point id), route, draw. Returns the
    map and the route as ``/v1/route`` would answer it."""
    origin = parse_place(from_, "from")
    dest = resolve(db, parse_place(to, "to"))
    route = find_route(settings, origin, dest, mode)
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


# --------------------------------------------------------------------------- the review map
# Every point of a selection on one map (``locator map review``). The points travel once,
# as one gzip-compressed JSON document of columns (base64 in a <script> element that is
# not run), and a small script draws them on canvas tiles (an ``L.GridLayer`` per layer,
# each tile drawn with one path from a precomputed Web Mercator position per point):
# no marker objects, no DOM node per point. A click finds the nearest drawn point and
# opens a popup built from text. Layers: real and generated points, and one per QA flag
# found in the data (``qa_flags``).

REAL_SOURCES = ("pinned", "imported")
ReviewSource = Literal["real", "generated"]

PROVENANCE: dict[str, tuple[str, str]] = {
    "pinned": (
        "สำนักงานจริง ปักหมุดโดยหน่วยงาน",
        "Real office, pinned by its agency",
    ),
    "imported": (
        "สำนักงานจริง นำเข้าจากแหล่งข้อมูลภายนอก",
        "Real office, imported from an outside source",
    ),
    "generated": (
        "จุดสมมุติสำหรับการสาธิต ไม่ใช่ข้อเท็จจริง",
        "Generated for the demo, not a fact: no such office; its name, place, phones and "
        "hours are invented",
    ),
}
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "active": ("เปิดให้บริการ", "active"),
    "temporarily_closed": ("ปิดชั่วคราว", "temporarily closed"),
    "closed": ("ปิดถาวร", "closed"),
}
THAILAND: Bounds = (97.3, 5.6, 105.7, 20.5)

_REVIEW_CSS = """
.locator-review-tile { pointer-events: none; }
.locator-popup .locator-provenance { margin-top: 4px; padding: 3px 6px;
  border-left: 4px solid #1f5fbf; background: #eef3fb; }
.locator-popup .locator-provenance.generated { border-left-color: #c25e00; background: #fff1e0; }
.locator-popup .locator-flags { margin-top: 4px; color: #a4161a; font-weight: 600; }
.locator-popup .locator-flag-detail { color: #a4161a; font-size: 13px; }
.locator-popup .locator-muted { color: #5b6470; font-size: 12px; }
.locator-legend .locator-key.review-dot { width: 10px; height: 10px; border: 1px solid #fff;
  border-radius: 50%; box-shadow: 0 0 0 1px #5b6470; border-top-width: 1px; }
.locator-legend .locator-key.review-real { background: #1f5fbf; }
.locator-legend .locator-key.review-generated { background: #e08a00; opacity: .75; }
.locator-legend .locator-key.review-flag { width: 12px; height: 12px; background: none;
  border: 2px solid #d00000; border-radius: 50%; box-shadow: none; }
"""

_REVIEW_JS = r"""
window.locatorReview = (function () {
  var R = { ready: null, drawn: 0, error: null, map: null, points: null, layers: {} };
  function decode(b64) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }
  function escapeText(s) {  /* the layer control puts names in as HTML */
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function radius(style, z) { return style.radius * (z < 8 ? 1 : z < 12 ? 1.4 : 1.9); }
  var PointLayer = L.GridLayer.extend({
    initialize: function (members, style, options) {
      this._members = members;
      this._style = style;
      L.setOptions(this, options);
    },
    createTile: function (coords) {
      var size = this.getTileSize(), dpr = window.devicePixelRatio || 1;
      var tile = L.DomUtil.create("canvas", "locator-review-tile");
      tile.width = size.x * dpr;
      tile.height = size.y * dpr;
      var ctx = tile.getContext("2d"), s = this._style, P = R.points;
      ctx.scale(dpr, dpr);
      var scale = 256 * Math.pow(2, coords.z), r = radius(s, coords.z), pad = r + s.weight + 1;
      var x0 = coords.x * size.x, y0 = coords.y * size.y, m = this._members, n = 0;
      ctx.fillStyle = s.fill || "transparent";
      ctx.lineWidth = s.weight;
      ctx.strokeStyle = s.color;
      function paint() {  /* in batches: a path of tens of thousands of arcs is not drawn */
        if (s.fill) { ctx.globalAlpha = s.fillOpacity; ctx.fill(); }
        if (s.weight) { ctx.globalAlpha = 1; ctx.stroke(); }
        ctx.beginPath();
      }
      ctx.beginPath();
      for (var k = 0; k < m.length; k++) {
        var i = m[k], x = P.mx[i] * scale - x0, y = P.my[i] * scale - y0;
        if (x < -pad || y < -pad || x > size.x + pad || y > size.y + pad) continue;
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        if (++n % 1000 === 0) paint();
      }
      paint();
      R.drawn += n;
      return tile;
    }
  });
  function line(box, tag, text, cls) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    node.textContent = text;
    box.appendChild(node);
    return node;
  }
  function popupFor(i) {
    var D = R.data, c = D.columns, box = document.createElement("div");
    var kind = D.kinds[c.kind[i]], agency = D.agencies[c.agency[i]], hours = D.hours[c.hours[i]];
    var source = D.sources[c.source[i]], status = D.statuses[c.status[i]];
    box.className = "locator-popup";
    line(box, "strong", c.name_th[i] || c.name_en[i]);
    if (c.name_en[i]) line(box, "div", c.name_en[i]);
    line(box, "div", "ประเภท · Kind: " + kind[1] + " · " + kind[2]);
    line(box, "div", "หน่วยงาน · Agency: " + agency[0] + (agency[1] ? " · " + agency[1] : ""));
    if (c.address_th[i]) line(box, "div", "ที่อยู่ · Address: " + c.address_th[i]);
    if (c.address_en[i]) line(box, "div", c.address_en[i]);
    line(box, "div", "โทร · Phone: " + (c.phones[i] || "-"));
    line(box, "div", "เวลาทำการ · Hours: " + hours);
    if (status[0] !== "active") {
      line(box, "div", "สถานะ · Status: " + status[1] + " · " + status[2]);
    }
    line(box, "div", "ที่มา · Source: " + source[1] + " · " + source[2],
      "locator-provenance " + (source[0] === "generated" ? "generated" : "real"));
    var flags = c.flags[i];
    if (flags && flags.length) {
      line(box, "div", "ต้องตรวจสอบ · Needs review: " +
        flags.map(function (f) { return D.flags[f]; }).join(", "), "locator-flags");
      flags.forEach(function (f, k) {
        var said = c.flag_details[i][k];
        if (said) line(box, "div", D.flags[f] + ": " + said, "locator-flag-detail");
      });
    }
    line(box, "div", "id " + c.id[i] + " · " + (c.lat[i] / 1e5).toFixed(5) + ", " +
      (c.lon[i] / 1e5).toFixed(5), "locator-muted");
    return box;
  }
  function nearest(map, latlng) {
    var z = map.getZoom(), scale = 256 * Math.pow(2, z), P = R.points;
    var p = map.project(latlng, z), best = -1, bestD = Infinity;
    R.order.forEach(function (entry) {
      if (best >= 0 || !map.hasLayer(entry.layer)) return;  /* the top layer wins */
      var reach = radius(entry.style, z) + 4, m = entry.members;
      for (var k = 0; k < m.length; k++) {
        var i = m[k], dx = P.mx[i] * scale - p.x, dy = P.my[i] * scale - p.y;
        var d = dx * dx + dy * dy;
        if (d < bestD && d <= reach * reach) { bestD = d; best = i; }
      }
    });
    return best;
  }
  R.open = function (i) {
    var c = R.data.columns, at = [c.lat[i] / 1e5, c.lon[i] / 1e5];
    L.popup({ maxWidth: 340 }).setLatLng(at).setContent(popupFor(i)).openOn(R.map);
  };
  R.indexOf = function (id) { return R.data.columns.id.indexOf(id); };
  R.start = function (map, spec) {
    R.map = map;
    var source = document.getElementById(spec.element);
    decode(source.textContent.trim()).then(function (data) {
      R.data = data;
      var c = data.columns, n = c.id.length;
      var mx = new Float64Array(n), my = new Float64Array(n);
      for (var i = 0; i < n; i++) {  /* Web Mercator, 0..1: Leaflet's pixels / (256 * 2^z) */
        var lat = c.lat[i] / 1e5 * Math.PI / 180;
        mx[i] = (c.lon[i] / 1e5 + 180) / 360;
        my[i] = (1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2;
      }
      R.points = { mx: mx, my: my };
      var overlays = {}, pending = 0;
      R.order = [];
      spec.layers.forEach(function (def, z) {
        var members = def.flag === null
          ? c.source.reduce(function (acc, s, i) {
              if (def.sources.indexOf(s) >= 0) acc.push(i);
              return acc;
            }, [])
          : c.flags.reduce(function (acc, f, i) {
              if (f && f.indexOf(def.flag) >= 0) acc.push(i);
              return acc;
            }, []);
        members = Int32Array.from(members);
        var layer = new PointLayer(members, def.style, { zIndex: 10 + z });
        R.layers[def.key] = layer;
        R.order.unshift({ layer: layer, members: members, style: def.style });
        overlays[escapeText(def.label + " (" + members.length.toLocaleString("en") + ")")] = layer;
        pending++;
        layer.once("load", function () {
          if (--pending === 0) {
            R.ready = performance.now();
            document.documentElement.setAttribute("data-review-ready", "1");
          }
        });
        layer.addTo(map);
      });
      L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
      map.on("click", function (e) {
        var started = performance.now(), i = nearest(map, e.latlng);
        if (i >= 0) R.open(i);
        R.clickMs = performance.now() - started;  /* finding the point and its popup */
      });
      if (pending === 0) R.ready = performance.now();
    }).catch(function (exc) {
      R.error = String(exc);
      console.error("the review map's points could not be read: " + exc);
    });
  };
  return R;
})();
"""


@lru_cache(maxsize=1)
def _kind_words() -> dict[str, tuple[str, str]]:
    """Each kind's Thai and English name (data/point_kinds.yaml)."""
    import yaml

    from locator.settings import get_settings

    try:
        rows = yaml.safe_load(
            (get_settings().catalogue_dir / "point_kinds.yaml").read_text("utf-8")
        )
    except OSError:
        return {}
    return {str(r["kind"]): (str(r["name_th"]), str(r["name_en"])) for r in rows or []}


def kind_words(kind: str) -> tuple[str, str]:
    return _kind_words().get(kind, (kind.replace("_", " "), kind.replace("_", " ")))


def find_province(db: Executor, province: str) -> tuple[str, str, str]:
    """A province by its 2-digit code, or its Thai or English name (any case):
    (code, name_th, name_en); an unknown one is a mistake to name."""
    row = db.execute(
        text(
            "SELECT code, name_th, name_en FROM admin_area WHERE level = 'province' "
            "AND (code = :p OR lower(name_en) = lower(:p) OR name_th = :p) LIMIT 1"
        ),
        {"p": province.strip()},
    ).first()
    if row is None:
        raise InvalidInput(
            f"province: no province {province!r}; give its 2-digit code or its Thai or "
            "English name (e.g. 50, Chiang Mai, เชียงใหม่)",
            parameter="province",
        )
    return str(row.code), str(row.name_th), str(row.name_en)


def qa_flags(db: Executor) -> dict[int, list[tuple[str, str]]]:
    """The unresolved findings of the pin check per point, (flag, detail), from the
    ``qa_flag`` table (``locator.registry.pincheck``: one row per finding, ``resolved_at`` null
    while it needs review). The map reads whatever flags the data holds, so a flag added
    later gets its layer with no change here; without the table (a schema before it),
    no point is flagged."""
    columns = set(
        db.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'qa_flag'"
            )
        ).scalars()
    )
    if not {"point_id", "flag"} <= columns:
        return {}
    detail = "detail" if "detail" in columns else "''"
    unresolved = "resolved_at IS NULL" if "resolved_at" in columns else "TRUE"
    flags: dict[int, list[tuple[str, str]]] = {}
    for point_id, flag, said in db.execute(
        text(
            f"SELECT point_id, flag, coalesce({detail}, '') FROM qa_flag "
            f"WHERE {unresolved} ORDER BY point_id, flag"
        )
    ):
        flags.setdefault(int(point_id), []).append((str(flag), str(said)))
    return flags


@dataclass(frozen=True)
class ReviewSummary:
    points: int
    real: int
    generated: int
    flagged: int
    flags: list[str]
    scope: list[str]
    """What the selection is, in words (for the legend and the command's answer)."""


def _hours_words(hours: dict[str, Any] | None) -> str:
    from locator.registry.hours import to_osm

    words = to_osm(hours)
    notes = [n for n in ((hours or {}).get("note_th"), (hours or {}).get("note_en")) if n]
    return words + (" (" + " · ".join(str(n) for n in notes) + ")" if notes else "")


def review_points(
    db: Executor,
    *,
    province: str | None = None,
    kind: str | None = None,
    source: ReviewSource | None = None,
    status: Status = "any",
) -> tuple[dict[str, Any], ReviewSummary, Bounds]:
    """The selected points as the review map's columns, what they are, and their extent.

    Points are selected through ``locator.query.filters`` (the API's ``kind`` and ``status``,
    checked the same way), narrowed to a province (by the tambon code of the point's
    address) and to real (pinned or imported) or generated points."""
    f = PointFilter(kind=kind, status=status)
    check_codes(db, f)
    c = conditions(f)
    where, params = [c.sql()], dict(c.params)
    scope = []
    if province is not None:
        code, name_th, name_en = find_province(db, province)
        where.append("left(p.tambon_code, 2) = :province")
        params["province"] = code
        scope.append(
            f"จังหวัด{name_th} · {name_en} province" if code != "10" else "กรุงเทพมหานคร · Bangkok"
        )
    if kind is not None:
        th, en = kind_words(kind)
        scope.append(f"{th} · {en}")
    if source is not None:
        where.append("p.source " + ("<> 'generated'" if source == "real" else "= 'generated'"))
        scope.append(
            "จุดจริงเท่านั้น · real points only"
            if source == "real"
            else "จุดสมมุติเท่านั้น · generated points only"
        )
    if status != "any":
        th, en = STATUS_WORDS.get(status, (status, status))
        scope.append(f"{th} · {en}")
    rows = db.execute(
        text(
            "SELECT p.id, p.kind, p.name_th, p.name_en, p.address_th, p.address_en, p.phones, "
            "p.opening_hours, p.source, p.status, a.name_th AS agency_th, "
            "a.name_en AS agency_en, ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon "
            f"FROM {c.source} JOIN agency a ON a.id = p.agency_id "
            f"WHERE {' AND '.join(where)} ORDER BY p.id"
        ),
        params,
    ).all()
    flags_of = qa_flags(db)
    flag_names = sorted({flag for row in rows for flag, _ in flags_of.get(int(row.id), [])})
    flag_index = {name: i for i, name in enumerate(flag_names)}
    kinds: dict[str, int] = {}
    agencies: dict[tuple[str, str], int] = {}
    hours: dict[str, int] = {}
    sources = {s: i for i, s in enumerate(POINT_SOURCES)}
    statuses = {s: i for i, s in enumerate(POINT_STATUSES)}
    names = [
        "id",
        "lat",
        "lon",
        "kind",
        "agency",
        "source",
        "status",
        "name_th",
        "name_en",
        "address_th",
        "address_en",
        "phones",
        "hours",
        "flags",
        "flag_details",
    ]
    cols: dict[str, list[Any]] = {name: [] for name in names}
    for row in rows:
        hours_text = _hours_words(row.opening_hours)
        cols["id"].append(int(row.id))
        cols["lat"].append(round(float(row.lat) * 1e5))
        cols["lon"].append(round(float(row.lon) * 1e5))
        cols["kind"].append(kinds.setdefault(str(row.kind), len(kinds)))
        agency = (str(row.agency_th or ""), str(row.agency_en or ""))
        cols["agency"].append(agencies.setdefault(agency, len(agencies)))
        cols["source"].append(sources.setdefault(str(row.source), len(sources)))
        cols["status"].append(statuses.setdefault(str(row.status), len(statuses)))
        cols["name_th"].append(row.name_th or "")
        cols["name_en"].append(row.name_en or "")
        cols["address_th"].append(row.address_th or "")
        cols["address_en"].append(row.address_en or "")
        cols["phones"].append(", ".join(row.phones or []))
        cols["hours"].append(hours.setdefault(hours_text, len(hours)))
        own = flags_of.get(int(row.id))
        cols["flags"].append([flag_index[flag] for flag, _ in own] if own else 0)
        cols["flag_details"].append([said for _, said in own] if own else 0)
    data = {
        "columns": cols,
        "kinds": [[k, *kind_words(k)] for k in kinds],
        "agencies": [list(a) for a in agencies],
        "hours": list(hours),
        "sources": [[s, *PROVENANCE.get(s, (s, s))] for s in sources],
        "statuses": [[s, *STATUS_WORDS.get(s, (s, s))] for s in statuses],
        "flags": flag_names,
    }
    generated = sum(1 for r in rows if r.source == "generated")
    summary = ReviewSummary(
        points=len(rows),
        real=len(rows) - generated,
        generated=generated,
        flagged=sum(1 for r in rows if int(r.id) in flags_of),
        flags=flag_names,
        scope=scope,
    )
    if rows:
        lats, lons = cols["lat"], cols["lon"]
        bounds: Bounds = (min(lons) / 1e5, min(lats) / 1e5, max(lons) / 1e5, max(lats) / 1e5)
    else:
        bounds = THAILAND
    return data, summary, bounds


_STYLES = {
    "generated": {
        "radius": 2.2,
        "fill": "#e08a00",
        "fillOpacity": 0.6,
        "weight": 0.6,
        "color": "#8a4b00",
    },
    "real": {
        "radius": 3.2,
        "fill": "#1f5fbf",
        "fillOpacity": 0.95,
        "weight": 1,
        "color": "#ffffff",
    },
    "flag": {"radius": 5.5, "fill": None, "fillOpacity": 0, "weight": 2, "color": "#d00000"},
}


def review_map(
    db: Executor,
    *,
    province: str | None = None,
    kind: str | None = None,
    source: ReviewSource | None = None,
    status: Status = "any",
) -> tuple[folium.Map, ReviewSummary]:
    """The review map of the selected points (by default every point of the registry):
    real and generated points and each QA flag as layers, a popup of facts and
    provenance on a click, the province (or district) outlines as the background."""
    import gzip
    import json

    data, summary, bounds = review_points(
        db, province=province, kind=kind, source=source, status=status
    )
    title = "แผนที่ตรวจทานทะเบียน · Registry review map"
    if summary.scope:
        title += ": " + ", ".join(s.split(" · ")[-1] for s in summary.scope)
    m = offline_map(title, prefer_canvas=True)
    root = m.get_root()
    assert isinstance(root, Figure)
    root.header.add_child(Element(f"<style>{_REVIEW_CSS}</style>"), name="locator_review_css")
    root.header.add_child(Element(f"<script>{_REVIEW_JS}</script>"), name="locator_review_js")
    payload = gzip.compress(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6
    )
    blob = base64.b64encode(payload).decode("ascii")
    root.html.add_child(
        Element(
            f'<script type="application/octet-stream" id="locator-review-data">{blob}</script>'
        ),
        name="locator_review_data",
    )
    view = padded(bounds, 0.05, 0.02)
    background = area_background(db, view)
    if background is not None:
        static_lines(m, background, {"color": "#8a8f98", "weight": 1, "opacity": 0.8})
    layers: list[dict[str, Any]] = [
        {
            "key": "generated",
            "label": "จุดสมมุติ ไม่ใช่ข้อเท็จจริง · Generated, not facts",
            "flag": None,
            "sources": [i for i, s in enumerate(data["sources"]) if s[0] not in REAL_SOURCES],
            "style": _STYLES["generated"],
        },
        {
            "key": "real",
            "label": "สำนักงานจริง · Real offices",
            "flag": None,
            "sources": [i for i, s in enumerate(data["sources"]) if s[0] in REAL_SOURCES],
            "style": _STYLES["real"],
        },
    ]
    for i, flag in enumerate(summary.flags):
        layers.append(
            {
                "key": f"flag:{flag}",
                "label": f"ต้องตรวจสอบ · QA: {flag}",
                "flag": i,
                "sources": [],
                "style": _STYLES["flag"],
            }
        )
    m.add_child(_Call("locatorReview.start", {"element": "locator-review-data", "layers": layers}))
    lines = [
        f"{summary.points:,} จุด · points: {summary.real:,} จริง · real, "
        f"{summary.generated:,} สมมุติ · generated",
        *summary.scope,
        "คลิกที่จุดเพื่อดูรายละเอียด · Click a point for its facts and provenance",
    ]
    if summary.flags:
        lines.append(f"{summary.flagged:,} ต้องตรวจสอบ · flagged for review")
    key = [
        ("review-dot review-real", "สำนักงานจริง · real office"),
        ("review-dot review-generated", "จุดสมมุติ · generated (not a real office)"),
    ]
    if summary.flags:
        key.append(("review-flag", "ต้องตรวจสอบ · flagged by the QA"))
    legend(
        m,
        "แผนที่ตรวจทานทะเบียน · Registry review map",
        lines,
        key=key,
        warning=(
            "จุดสีส้มสร้างขึ้นเพื่อการสาธิต ไม่ใช่สำนักงานจริง · Orange points are generated "
            "for the demo: not real offices, and nothing about them is a fact."
            if summary.generated
            else None
        ),
        position="bottomleft",
    )
    w, s, e, n = padded(bounds, 0.02, 0.01)
    m.fit_bounds([[s, w], [n, e]])
    return m, summary


# --------------------------------------------------------------------------- choropleths
# Areas coloured by a share: the coverage map (share of people beyond a threshold, by
# district or tambon; issue 13) and the No-Copy map (share of offerings that need no
# photocopies, by province). The polygons travel once as one JSON document (in a
# <script> element that is not run, ``<`` escaped) and are drawn on one canvas by
# ``L.geoJSON``: a national tambon map is 7,400 polygons, and 7,400 SVG paths, or a
# popup object per area, would make the page slow to open. Popups and tooltips are made
# on demand from lines of text (``textContent``). Polygons are simplified as one coverage
# (neighbours keep one shared border) and their coordinates rounded.

_CHOROPLETH_CSS = """
.locator-legend .locator-key.choro-swatch { width: 18px; height: 12px; border: 1px solid #5b6470;
  border-top-width: 1px; }
.locator-legend .locator-key.choro-worst { width: 12px; height: 12px; border: 2px solid #7a0010;
  border-radius: 50%; background: #ffffff; }
.locator-legend .locator-key.choro-site { width: 16px; height: 16px; border: 0;
  border-radius: 50%; background: #0b4f9c; }
.locator-site { display: flex; align-items: center; justify-content: center; border-radius: 50%;
  background: #0b4f9c; color: #fff; font-weight: 600; font-size: 12px; border: 2px solid #fff;
  box-shadow: 0 1px 4px rgba(0, 0, 0, .45); }
"""

_CHOROPLETH_JS = r"""
window.locatorChoropleth = (function () {
  var C = { ready: null, error: null, map: null, layers: {}, areas: 0 };
  function escapeText(s) {  /* the layer control puts names in as HTML */
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function box(lines) {  /* lines of text, the first in bold: DOM nodes, never HTML */
    var div = document.createElement("div");
    div.className = "locator-popup";
    lines.forEach(function (line, i) {
      var node = document.createElement(i === 0 ? "strong" : "div");
      node.textContent = line;
      div.appendChild(node);
    });
    return div;
  }
  function tip(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }
  C.start = function (map, spec) {
    C.map = map;
    try {
      var data = JSON.parse(document.getElementById(spec.element).textContent);
      var overlays = {};
      var areas = L.geoJSON(data.areas, {
        renderer: L.canvas({ padding: 0.3 }),
        style: function (f) {
          return { fillColor: data.colors[f.properties.k], fillOpacity: 0.85,
                   color: data.stroke, weight: data.weight, opacity: 0.9 };
        }
      });
      /* each area carries its values; the lines' words travel once (data.prefixes) */
      areas.bindPopup(function (layer) {
        var v = layer.feature.properties.v;
        return box(data.prefixes.map(function (p, i) { return p + v[i]; })
          .filter(function (line, i) { return line !== "" || i === 0; }));
      }, { maxWidth: 320 });
      areas.bindTooltip(function (layer) {
        var v = layer.feature.properties.v, t = data.tip;
        return tip(t.slice(0, -1).map(function (i) { return v[i]; }).filter(Boolean)
          .join(" · ") + ": " + v[t[t.length - 1]]);
      }, { sticky: true });
      areas.addTo(map);
      C.layers.areas = areas;
      C.areas = areas.getLayers().length;
      overlays[escapeText(data.areasLabel)] = areas;
      data.points.forEach(function (def) {
        var group = L.featureGroup();
        def.items.forEach(function (item) {
          var marker;
          if (def.kind === "site") {
            var label = document.createElement("span");
            label.textContent = item.label;
            marker = L.marker([item.lat, item.lon], {
              title: item.tip, alt: item.tip, zIndexOffset: 1000,
              icon: L.divIcon({ html: label, className: "locator-site " + def.className,
                                iconSize: [24, 24], iconAnchor: [12, 12] })
            });
          } else {
            marker = L.circleMarker([item.lat, item.lon], {
              renderer: L.svg(), radius: 7, color: "#7a0010", weight: 2.5, fillColor: "#ffffff",
              fillOpacity: 0.9, className: def.className
            });
          }
          marker.bindPopup(function () { return box(item.lines); }, { maxWidth: 320 });
          marker.bindTooltip(function () { return tip(item.tip); }, { direction: "top" });
          group.addLayer(marker);
        });
        group.addTo(map);
        C.layers[def.key] = group;
        overlays[escapeText(def.label)] = group;
      });
      L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
      requestAnimationFrame(function () {
        /* the areas fitted beside the legend (added after this script) where the window
           is wide enough */
        var legend = document.querySelector(".locator-legend"), width = map.getSize().x;
        var left = legend && width > 2.5 * legend.offsetWidth ? legend.offsetWidth + 20 : 10;
        if (C.areas) {
          map.fitBounds(areas.getBounds(), { paddingTopLeft: [left, 10],
                                             paddingBottomRight: [10, 10], animate: false });
        }
        /* the canvas is drawn on the next animation frame: ready after it */
        requestAnimationFrame(function () {
          C.ready = performance.now();
          document.documentElement.setAttribute("data-choropleth-ready", "1");
        });
      });
    } catch (exc) {
      C.error = String(exc);
      console.error("the map's areas could not be drawn: " + exc);
    }
  };
  return C;
})();
"""


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

# share of offerings that need no photocopies: low is the concern (orange), high green
NO_COPY_SHADES = (
    Shade(0.0, 0.50, "#d94801", "น้อยกว่า 50%", "under 50%"),
    Shade(0.50, 0.70, "#fd8d3c", "50-70%", "50-70%"),
    Shade(0.70, 0.80, "#fdd0a2", "70-80%", "70-80%"),
    Shade(0.80, 0.90, "#c7e9c0", "80-90%", "80-90%"),
    Shade(0.90, 0.95, "#74c476", "90-95%", "90-95%"),
    Shade(0.95, 1.0, "#238b45", "95% ขึ้นไป", "95% or more"),
)

# simplification tolerance (degrees) by level: about a tenth of a small unit's width,
# finer than a screen pixel at the zoom that shows the whole unit
SIMPLIFY_DEG: dict[str, float] = {"province": 0.005, "district": 0.002, "tambon": 0.0008}
LEVEL_BY_CODE_LENGTH: dict[int, str] = {2: "province", 4: "district", 6: "tambon"}
LEVEL_WORDS: dict[str, tuple[str, str]] = {
    "province": ("จังหวัด", "province"),
    "district": ("อำเภอ/เขต", "district"),
    "tambon": ("ตำบล/แขวง", "tambon"),
}
UNIT_WORDS: dict[str, tuple[str, str]] = {"km": ("กม.", "km"), "min": ("นาที", "min")}


def _shade_of(share: Any, shades: tuple[Shade, ...]) -> int:
    """The class index of ``share`` (0..1); ``len(shades)`` for no data."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return len(shades)
    value = min(max(float(share), 0.0), 1.0)
    for i, shade in enumerate(shades):
        if shade.holds(value):
            return i
    return len(shades)  # pragma: no cover - the shades cover 0..1


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _people(value: Any) -> str:
    number = _number(value)
    return "-" if number is None else f"{number:,.0f}"


def _percent(share: Any) -> str:
    number = _number(share)
    return "-" if number is None else f"{number * 100:.1f}%"


def level_of(areas: gpd.GeoDataFrame) -> str:
    """District, tambon or province, from the length of the DOPA codes."""
    codes = [str(c) for c in areas["code"]] if "code" in areas and len(areas) else []
    lengths = {len(c) for c in codes}
    if len(lengths) == 1 and (length := lengths.pop()) in LEVEL_BY_CODE_LENGTH:
        return LEVEL_BY_CODE_LENGTH[length]
    return "district"


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


def _point_lat_lon(geometry: Any) -> tuple[float, float]:
    point = geometry if geometry.geom_type == "Point" else geometry.representative_point()
    return round(float(point.y), 5), round(float(point.x), 5)


def _choropleth(
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
    root = m.get_root()
    assert isinstance(root, Figure)
    root.header.add_child(Element(f"<style>{_CHOROPLETH_CSS}</style>"), name="locator_choro_css")
    root.header.add_child(Element(f"<script>{_CHOROPLETH_JS}</script>"), name="locator_choro_js")
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
    m.add_child(_Call("locatorChoropleth.start", {"element": element}))
    w, s, e, n = (float(v) for v in areas.total_bounds) if len(areas) else THAILAND
    m.fit_bounds([[s, w], [n, e]], padding_top_left=(20, 20), padding_bottom_right=(20, 20))
    return counts


def _shade_key(shades: tuple[Shade, ...], counts: list[int]) -> list[tuple[str, str]]:
    """The legend's key: each class's swatch, label and how many areas are in it."""
    key = [
        (f"choro-swatch choro-{i}", f"{s.label_th} · {s.label_en} ({counts[i]:,})")
        for i, s in enumerate(shades)
    ]
    if counts[-1]:
        key.append((f"choro-swatch choro-{len(shades)}", f"ไม่มีข้อมูล · no data ({counts[-1]:,})"))
    return key


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
            _people(row.get("population")),
            _people(row.get(beyond)),
            _percent(row.get(share)),
            str(row.get("code")),
        ]

    points: list[dict[str, Any]] = []
    legend_lines = [
        f"สัดส่วนประชากรที่อยู่{far_th}จากจุดบริการที่ใกล้ที่สุด · "
        f"Share of people {far_en} from the nearest point, by {LEVEL_WORDS[level][1]}",
    ]
    total = _number(areas["population"].sum()) if "population" in areas else None
    far = _number(areas[beyond].sum()) if beyond in areas else None
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
                f"ประชากร · Population: {_people(row.get('population'))}",
            ]
            distance = _number(row.get("distance_m"))
            if distance is not None:
                lines.append(f"ถึงจุดที่ใกล้ที่สุด · To the nearest point: {distance_words(distance)}")
            travel = _number(row.get("travel_s"))
            if travel is not None:
                lines.append(f"เวลาเดินทาง · By road: {duration_words(travel)}")
            if _number(row.get(share)) is not None:
                lines.append(f"{far_th} · {far_en}: {_percent(row.get(share))}")
            nearest = _number(row.get("nearest_point_id"))
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
            order = int(_number(row.get("order")) or i)
            gained = _number(row.get("people_gained")) or 0.0
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
    counts = _choropleth(
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
        key=_shade_key(COVERAGE_SHADES, counts) + key,
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
        name = db.execute(
            text("SELECT name_th, name_en FROM service WHERE code = :c"), {"c": f.service}
        ).first()
        scope = f" ({name.name_en if name else f.service})"

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
            _people(row["offerings"]),
            _people(row["no_copy_offerings"]),
            _percent(row["no_copy_share"]),
            "",
        ]

    title_th, title_en = "สัดส่วนบริการที่ไม่ต้องใช้สำเนา", "No-Copy share by province"
    title = f"{title_th} · {title_en}{scope}"
    m = offline_map(title, prefer_canvas=True)
    counts = _choropleth(
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
        key=_shade_key(NO_COPY_SHADES, counts),
        warning=NO_COPY_WARNING,
        position="bottomleft",
    )
    return m
