"""Browser fixtures: a headless Chromium per module, and pages opened in it offline.

Registered for every test by tests/conftest.py (``pytest_plugins``). ``open_tab`` opens
the live server's pages (``server``: the session's, or a module's own), ``open_map`` a
map saved as one HTML file. Every request that would leave the machine is blocked and
noted, which proves the pages work offline; the street tiles (``Settings.tile_url``)
are either blocked too or served by stand-in tiles (tests/support/web_tiles.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from locator.settings import get_settings
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.web_tiles import tile_from_url

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (Debian package chromium)"
)
STATIC = Path(__file__).resolve().parents[2] / "locator" / "api" / "static"
XSS = '<img src=x onerror="window.__pwned=1">'  # text that must stay text on every page
TIMEOUT_MS = 30_000
TILE_URL = get_settings().tile_url  # what the live server (same environment) uses
TILE_HOST = urlparse(TILE_URL).hostname or ""
ROUTE_DRAWN = ".leaflet-overlay-pane path.locator-route"  # open_map's default: a route map


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# --------------------------------------------------------------------------- served pages
@dataclass
class Tab:
    """A page in its own browser context, with what it logged and what it tried to fetch.

    ``blocked`` lists requests that tried to leave the machine, ``tiles`` the requests for
    street tiles (blocked or served by the stand-in), ``requests`` every URL asked for.
    """

    page: Any
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    tiles: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def errors_except_http_status(self) -> list[str]:
        # Chromium logs every 4xx/5xx answer as "Failed to load resource"; tests that
        # provoke an API error expect exactly that and nothing else.
        return [e for e in self.console_errors if "the server responded with a status" not in e]


@pytest.fixture
def open_tab(browser: Any, server: str) -> Iterator[Callable[..., Tab]]:
    contexts: list[Any] = []

    def _open(
        path: str = "/app",
        *,
        viewport: tuple[int, int] = (1280, 820),
        geolocation: tuple[float, float] | None = None,
        mobile: bool = False,
        before: Callable[[Any], None] | None = None,
        tiles: bool = False,
    ) -> Tab:
        """Open ``path``; ``tiles``: serve stand-in street tiles (else they are blocked)."""
        options: dict[str, Any] = {
            "viewport": {"width": viewport[0], "height": viewport[1]},
            "locale": "th-TH",
            "timezone_id": "Asia/Bangkok",
            "service_workers": "block",
        }
        if geolocation:
            options["geolocation"] = {"latitude": geolocation[0], "longitude": geolocation[1]}
            options["permissions"] = ["geolocation"]
        if mobile:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**options)
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        tab = Tab(page)

        def offline_only(route: Any) -> None:
            url = route.request.url
            host = urlparse(url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
            elif host == TILE_HOST:
                tab.tiles.append(url)
                if tiles:
                    route.fulfill(status=200, content_type="image/png", body=tile_from_url(url))
                else:
                    route.abort()
            else:
                tab.blocked.append(url)
                route.abort()

        def console(msg: Any) -> None:
            # a blocked tile is logged as a failed load: expected, the page falls back
            if msg.type == "error" and urlparse(msg.location.get("url", "")).hostname != TILE_HOST:
                tab.console_errors.append(msg.text)

        context.route("**/*", offline_only)
        page.on("console", console)
        page.on("pageerror", lambda exc: tab.console_errors.append(f"page error: {exc}"))
        page.on("request", lambda request: tab.requests.append(request.url))
        if before:
            before(page)
        page.goto(server + path)
        page.wait_for_selector("body[data-ready]", state="attached")
        return tab

    yield _open
    for context in contexts:
        context.close()


def query_params(page: Any) -> dict[str, str]:
    """The page address's query string, one value per name."""
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


# --------------------------------------------------------------------------- saved maps
@dataclass
class Opened:
    page: Any
    errors: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # requests that tried to leave


@pytest.fixture
def open_map(browser: Any) -> Iterator[Callable[[Path], Opened]]:
    contexts: list[Any] = []

    def _open(path: Path, ready: str = ROUTE_DRAWN) -> Opened:
        context = browser.new_context(viewport={"width": 1100, "height": 750})
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page)

        def offline_only(route: Any) -> None:
            url = route.request.url
            if url.startswith(("file:", "data:")) or urlparse(url).hostname in (
                "127.0.0.1",
                "localhost",
            ):
                route.continue_()
            else:
                opened.left.append(url)
                route.abort()

        context.route("**/*", offline_only)
        page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: opened.errors.append(f"page error: {exc}"))
        page.goto(path.resolve().as_uri())
        if ready.startswith("() =>"):  # a condition to wait for, else a selector
            page.wait_for_function(ready, timeout=60_000)
        else:
            page.wait_for_selector(ready, state="attached")
        return opened

    yield _open
    for context in contexts:
        context.close()


def count(page: Any, selector: str) -> int:
    """How many elements match ``selector`` on the page."""
    return int(page.locator(selector).count())
