"""The foundation every exported map shares: folium on the vendored Leaflet, offline.

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
- The maps' own scripts and style sheets are files in ``locator/maps/assets``, inlined
  by ``inline_assets``.
"""

from __future__ import annotations

import base64
import math
import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, cast

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template, tojavascript
from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import ConfigurationError
from locator.registry import vocabulary
from locator.settings import get_settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "api" / "static"
LEAFLET_DIR = STATIC_DIR / "vendor" / "leaflet"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"


# --------------------------------------------------------------------------- vocabulary
def kind_words(kind: str) -> tuple[str, str]:
    """A kind's Thai and English name (the registry's), or its code spelt out."""
    try:
        words = vocabulary.kind_words(get_settings().catalogue_dir).get(kind)
    except (OSError, ConfigurationError):  # a map still draws without the catalogue
        words = None
    return words or (kind.replace("_", " "), kind.replace("_", " "))


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


@cache
def _asset(name: str) -> str:
    """One of the maps' own files (``assets/<name>``) as the page holds it: after a line
    break, as the maps have always inlined it."""
    try:
        return "\n" + (ASSETS_DIR / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"the maps' {name} is missing ({exc.filename}): reinstall the package"
        ) from exc


def page(m: folium.Map) -> Figure:
    """The HTML page the map is drawn on (its head and body take the inlined parts)."""
    root = m.get_root()
    assert isinstance(root, Figure)
    return root


def inline_assets(m: folium.Map, stem: str) -> None:
    """Put ``assets/<stem>.css`` and ``assets/<stem>.js`` in the page's head."""
    header = page(m).header
    header.add_child(Element(f"<style>{_asset(stem + '.css')}</style>"), name=f"locator_{stem}_css")
    header.add_child(Element(f"<script>{_asset(stem + '.js')}</script>"), name=f"locator_{stem}_js")


def offline_map(title: str, *, prefer_canvas: bool = False, **options: Any) -> folium.Map:
    """An empty folium map that needs no internet: Leaflet inlined, no CDN link, no tiles.

    ``title`` is the page's title; ``options`` go to ``folium.Map`` (``location``,
    ``zoom_start``, ...). ``prefer_canvas`` for maps of many thousands of features.
    """
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=prefer_canvas, **options)
    # folium's CDN resources are class attributes; this map has none of them
    m.default_js = []
    m.default_css = []
    root = page(m)
    root.title = title
    css, js = _leaflet_assets()
    root.header.add_child(Element(f"<style>{css}</style>"), name="locator_leaflet_css")
    root.header.add_child(Element(f"<script>{js}</script>"), name="locator_leaflet_js")
    # the map's own look and its helpers (popups and tooltips from text, the legend)
    inline_assets(m, "map")
    return m


class ScriptCall(MacroElement):
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
    layer.add_child(ScriptCall("locatorMaps.popup", lines, tooltip))


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
    m.add_child(ScriptCall("locatorMaps.legend", spec))


def static_lines(m: folium.Map, geojson: dict[str, Any], style: dict[str, Any]) -> None:
    """A background of lines or outlines (GeoJSON) that takes no clicks."""
    m.add_child(ScriptCall("locatorMaps.lines", geojson, {"interactive": False, "style": style}))


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

THAILAND: Bounds = (97.3, 5.6, 105.7, 20.5)


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


# --------------------------------------------------------------------------- words
def distance_words(metres: float) -> str:
    if metres < 1000:
        return f"{metres:.0f} m"
    return f"{metres / 1000:.1f} km" if metres < 100_000 else f"{metres / 1000:,.0f} km"


def duration_words(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
