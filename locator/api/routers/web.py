"""The web pages: the citizen map at ``/app``, the agency page at ``/agency``, their
assets under ``/static``; the API's documentation at ``/docs`` and ``/redoc``.

Everything the page needs (Leaflet included) is served from this process. Street tiles
come from ``Settings.tile_url`` (OpenStreetMap's by default) when they load; when they do
not (no internet, a blocked host), the page falls back by itself to the province outlines
from ``/v1/areas/province``, fetched only then.

The page is strict about what it runs: a Content-Security-Policy allows scripts only
from this origin (no inline script) and images only from here and the tile host, and
``app.js`` builds the DOM with ``textContent``, never with HTML strings made from API data.
The agency page (``agency.html``, ``agency.js``) is rendered and served the same way, with
the same policy: its API key lives in the tab's ``sessionStorage`` and travels only in an
``Authorization`` header, so the policy's ``connect-src 'self'`` is all it needs.

For a phone's network: static files carry a hash of their content in their address
(``?v=``) and are then cached for a year; everything is gzip-compressed by the app's
middleware; the page preloads the two JSON files it needs at start-up.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from locator.registry.vocabulary import kind_words, page_vocabulary
from locator.settings import Settings

log = logging.getLogger("locator.api.routers.web")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# a static file asked for with its content hash (?v=...) never changes at that address
IMMUTABLE = "public, max-age=31536000, immutable"
# one asked for without it (fonts and images named by the style sheets) is revalidated
# after a week (vendored files change only with a new vendored version)
UNVERSIONED = "public, max-age=604800"


def tile_origin(tile_url: str) -> str | None:
    """The origin the page loads tiles from, as a CSP source (``{s}`` subdomains -> ``*``).

    None when there is no tile URL or it names this server (a relative URL: ``'self'``).
    Raises ValueError for a URL the page could not use.
    """
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if not parts.scheme and not parts.netloc and tile_url.startswith("/"):
        return None
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"tile_url must be an http(s) URL or a path, not {tile_url!r}")
    for name in ("{z}", "{x}", "{y}"):
        if name not in tile_url:
            raise ValueError(f"tile_url must contain {name}: {tile_url!r}")
    host = parts.netloc.replace("{s}", "*")
    if not re.fullmatch(r"[A-Za-z0-9.*:\[\]-]+", host):
        raise ValueError(f"tile_url has an unusable host: {tile_url!r}")
    return f"{parts.scheme}://{host}"


def content_security_policy(
    tiles: str | None,
    *,
    scripts: tuple[str, ...] = (),
    styles: tuple[str, ...] = (),
    workers: tuple[str, ...] = (),
) -> str:
    """The one policy of every page: this origin only, plus the tile host for images and
    whatever sources a page names (``scripts``: the hash of its inline script, say)."""
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *scripts]),
            " ".join(["style-src 'self'", *styles]),
            "img-src 'self' data:" + (f" {tiles}" if tiles else ""),
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            *([" ".join(["worker-src", *workers])] if workers else []),
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _security_headers(tiles: str | None, policy: str | None = None) -> dict[str, str]:
    """The headers every page is sent with (``policy``: its own CSP, else the maps')."""
    return {
        "Content-Security-Policy": policy or content_security_policy(tiles),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
        "Cache-Control": "no-cache",
    }


def _tile_settings(settings: Settings) -> tuple[str, str | None]:
    """The tile URL the page gets and the origin the policy allows; none if unusable."""
    try:
        return settings.tile_url, tile_origin(settings.tile_url)
    except ValueError as exc:
        log.warning("web pages: %s; the maps show the offline outlines only", exc)
        return "", None


@lru_cache(maxsize=64)
def asset_hash(relative: str) -> str:
    """The first 12 hex digits of a static file's SHA-256 (its cache-busting version)."""
    return hashlib.sha256((STATIC_DIR / relative).read_bytes()).hexdigest()[:12]


def render_page(settings: Settings, template_name: str = "app.html") -> str:
    """A page with its few server-side values filled in (escaped where they are text).

    One renderer for both pages, so both get the same hashed asset addresses, the same
    tile settings and the registry's words (``page_vocabulary``, which the scripts read
    instead of words of their own); a placeholder a page does not use is simply not there.
    """
    template = (STATIC_DIR / template_name).read_text(encoding="utf-8")
    template = re.sub(
        r"/static/([\w./-]+)\?v=__VERSION__",
        lambda m: f"/static/{m.group(1)}?v={asset_hash(m.group(1))}",
        template,
    )
    tile_url, tiles = _tile_settings(settings)
    preconnect = f'<link rel="preconnect" href="{html.escape(tiles)}">\n' if tiles else ""
    values = {
        "__TILE_PRECONNECT__": preconnect,
        "__DEFAULT_K__": str(int(min(settings.default_k, settings.max_k))),
        "__MAX_K__": str(int(settings.max_k)),
        "__MAX_COMMENT__": str(int(settings.max_rating_comment)),
        "__MAX_QUERY__": str(int(settings.max_query_length)),
        "__TILE_URL__": html.escape(tile_url, quote=True),
        "__TILE_ATTRIBUTION__": html.escape(settings.tile_attribution, quote=True),
        "__VOCABULARY__": html.escape(json.dumps(page_vocabulary(), ensure_ascii=False)),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


@lru_cache(maxsize=4)
def page_labels(catalogue_dir: Path) -> dict[str, Any]:
    """Thai and English names of point kinds and document types, for the result list.

    The nearest-point answer carries codes (``kind``, ``copies_required``); the page
    shows names. When the catalogue cannot be read the page falls back to the codes.
    """
    from locator.ingest.catalogue import read_catalogue

    try:
        cat = read_catalogue(catalogue_dir)
    except Exception as exc:  # the page still works, with codes instead of names
        log.warning("citizen page: catalogue not readable (%s); showing codes", exc)
        return {"kinds": {}, "documents": {}}
    return {
        "kinds": {
            code: {"name_th": th, "name_en": en}
            for code, (th, en) in kind_words(catalogue_dir).items()
        },
        "documents": {
            d.code: {"name_th": d.name_th, "name_en": d.name_en} for d in cat.document_types
        },
    }


router = APIRouter(tags=["web pages"], include_in_schema=False)


@dataclass(frozen=True)
class Page:
    html: str
    headers: dict[str, str]


Render = Callable[[Request], tuple[str, str | None]]
"""A page's HTML and its own Content-Security-Policy (None: the maps' policy)."""


def _map_page(template_name: str) -> Render:
    return lambda request: (render_page(request.app.state.settings, template_name), None)


def _page(request: Request, name: str, render: Render) -> Page:
    """A page rendered for this app's settings, once per app (its ETag is its hash)."""
    state = request.app.state
    pages: dict[str, Page] | None = getattr(state, "web_pages", None)
    if pages is None:
        pages = state.web_pages = {}
    page = pages.get(name)
    if page is None:
        html, policy = render(request)
        etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:16] + '"'
        tiles = _tile_settings(state.settings)[1]
        headers = {**_security_headers(tiles, policy), "ETag": etag}
        page = pages[name] = Page(html, headers)
    return page


def _serve(request: Request, name: str, render: Render | None = None) -> Response:
    page = _page(request, name, render or _map_page(name))
    if page.headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=page.headers)
    return HTMLResponse(page.html, headers=page.headers)


@router.get("/app", response_class=HTMLResponse)
def citizen_page(request: Request) -> Response:
    return _serve(request, "app.html")


@router.get("/agency", response_class=HTMLResponse)
def agency_page(request: Request) -> Response:
    """Agency staff pin and maintain their points on a map (sign in with an API key)."""
    return _serve(request, "agency.html")


# --- the API's documentation ------------------------------------------------------------
# Swagger UI and ReDoc as FastAPI draws them, but from files in this process (the
# fastapi-offline package ships both, pinned with it) rather than a CDN without
# integrity, and under the pages' policy: Swagger UI's inline start-up script is allowed
# by its hash; ReDoc writes its styles inline (styled-components) and runs its search in
# a worker made from a blob.
DOCS_ASSETS_URL = "/docs-assets"


@lru_cache(maxsize=1)
def docs_assets() -> tuple[Path, str]:
    """The folder of Swagger UI's and ReDoc's files, and the package version that
    versions their addresses."""
    from importlib.metadata import version
    from importlib.resources import files

    return Path(str(files("fastapi_offline") / "static")), version("fastapi-offline")


def inline_script_hashes(html: str) -> tuple[str, ...]:
    """CSP sources allowing exactly the page's inline scripts (and nothing injected)."""
    return tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )


def _docs_urls(request: Request) -> tuple[str, str]:
    root = request.scope.get("root_path", "")
    return f"{root}{request.app.openapi_url}", f"{root}{DOCS_ASSETS_URL}"


def _swagger_ui(request: Request) -> tuple[str, str | None]:
    openapi, assets = _docs_urls(request)
    version = docs_assets()[1]
    body = get_swagger_ui_html(
        openapi_url=openapi,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js?v={version}",
        swagger_css_url=f"{assets}/swagger-ui.css?v={version}",
        swagger_favicon_url=f"{assets}/favicon.png?v={version}",
        oauth2_redirect_url=None,
    ).body
    page = bytes(body).decode()
    return page, content_security_policy(None, scripts=inline_script_hashes(page))


def _redoc(request: Request) -> tuple[str, str | None]:
    openapi, assets = _docs_urls(request)
    version = docs_assets()[1]
    body = get_redoc_html(
        openapi_url=openapi,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js?v={version}",
        redoc_favicon_url=f"{assets}/favicon.png?v={version}",
        with_google_fonts=False,
    ).body
    page = bytes(body).decode()
    policy = content_security_policy(
        None, scripts=inline_script_hashes(page), styles=("'unsafe-inline'",), workers=("blob:",)
    )
    return page, policy


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> Response:
    return _serve(request, "docs", _swagger_ui)


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> Response:
    return _serve(request, "redoc", _redoc)


@router.get("/app/labels.json")
def labels(request: Request) -> JSONResponse:
    return JSONResponse(
        page_labels(request.app.state.settings.catalogue_dir),
        headers={"Cache-Control": "public, max-age=3600"},
    )


class CachedStaticFiles(StaticFiles):
    """Static files with a Cache-Control: a year when asked for by their current version
    (``version``: the file's hash, or the version of the package that ships it)."""

    def __init__(self, *, directory: Path, version: Callable[[str], str] = asset_hash) -> None:
        super().__init__(directory=directory)
        self.version = version

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])
            current = asked[0] == self.version(path)  # never pin an old address to new content
            response.headers["Cache-Control"] = IMMUTABLE if current else UNVERSIONED
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_static(app: FastAPI) -> None:
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    folder, version = docs_assets()
    app.mount(
        DOCS_ASSETS_URL,
        CachedStaticFiles(directory=folder, version=lambda _: version),
        name="docs-assets",
    )
