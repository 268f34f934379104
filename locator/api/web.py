"""The citizen map page: one HTML page at ``/app``, its assets under ``/static``.

Everything the page needs (Leaflet included) is served from this process, so the page
works without internet; the OpenStreetMap basemap is an option, and the province
outlines from ``/v1/areas/province`` are the background that is always there.

The page is strict about what it runs: a Content-Security-Policy allows scripts only
from this origin (no inline script), and ``app.js`` builds the DOM with ``textContent``,
never with HTML strings made from API data.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from locator import __version__
from locator.settings import Settings

log = logging.getLogger("locator.api.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
OSM_TILES = "https://tile.openstreetmap.org"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: {OSM_TILES}",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    "Cache-Control": "no-cache",
}


def render_page(settings: Settings) -> str:
    """The page with its few server-side values filled in (all integers or our version)."""
    template = (STATIC_DIR / "app.html").read_text(encoding="utf-8")
    values = {
        "__VERSION__": __version__,
        "__DEFAULT_K__": str(int(min(settings.default_k, settings.max_k))),
        "__MAX_K__": str(int(settings.max_k)),
        "__MAX_COMMENT__": str(int(settings.max_rating_comment)),
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
        "kinds": {k.kind: {"name_th": k.name_th, "name_en": k.name_en} for k in cat.kinds},
        "documents": {
            d.code: {"name_th": d.name_th, "name_en": d.name_en} for d in cat.document_types
        },
    }


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["citizen page"], include_in_schema=False)
    page = render_page(settings)

    @router.get("/app", response_class=HTMLResponse)
    def citizen_page() -> HTMLResponse:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    @router.get("/app/labels.json")
    def labels() -> JSONResponse:
        return JSONResponse(
            page_labels(settings.catalogue_dir),
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
