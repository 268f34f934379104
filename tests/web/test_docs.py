"""The API's documentation pages, /docs (Swagger UI) and /redoc, in a real headless
Chromium against the real server, with every request off the machine blocked: they draw
the API's operations from this server's own files, and are sent with the same
Content-Security-Policy, frame, nosniff and referrer headers as the map pages, which the
browser then enforces (a violation is a console error, and fails the test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.support.browser import TIMEOUT_MS, needs_chromium

pytestmark = needs_chromium

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@dataclass
class Offline:
    page: Any
    errors: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # requests that tried to leave
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def offline_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context that can reach loopback only (the docs have no
    ``data-ready`` of their own to wait for, unlike ``open_tab``'s pages)."""
    contexts: list[Any] = []

    def _open() -> Offline:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        opened = Offline(context.new_page())

        def loopback_only(route: Any) -> None:
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                opened.left.append(route.request.url)
                route.abort()

        context.route("**/*", loopback_only)
        opened.page.on(
            "console", lambda m: opened.errors.append(m.text) if m.type == "error" else None
        )
        opened.page.on("pageerror", lambda exc: opened.errors.append(f"page error: {exc}"))
        opened.page.on("request", lambda request: opened.asked.append(request.url))
        return opened

    yield _open
    for context in contexts:
        context.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_are_sent_with_the_pages_security_headers(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    header = response.headers["content-security-policy"]
    policy = {d.partition(" ")[0]: d.partition(" ")[2] for d in header.split("; ")}
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    scripts = policy["script-src"].split()
    assert scripts[0] == "'self'"
    # beyond this origin, only the page's own inline script, by its hash
    assert all(s.startswith("'sha256-") for s in scripts[1:]), scripts
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    # every script and style sheet from this server, none from a CDN
    assert "cdn." not in response.text and "https://" not in response.text


def test_swagger_ui_draws_every_operation_offline(
    offline_page: Any, server: str, api: httpx.Client
) -> None:
    operations = sum(len(methods) for methods in api.get("/openapi.json").json()["paths"].values())
    opened = offline_page()
    opened.page.goto(server + "/docs")
    opened.page.wait_for_selector(".opblock-summary", state="attached")
    drawn = opened.page.locator(".opblock").count()
    assert drawn == operations
    assert opened.page.locator(".opblock-summary-path[data-path='/v1/points/nearest']").count()
    assert opened.left == [], opened.left
    assert opened.errors == [], opened.errors
    # the UI's files came from this server, the versioned, cacheable copies
    assert any("/docs-assets/swagger-ui-bundle.js?v=" in url for url in opened.asked)
    bundle = api.get(next(u for u in opened.asked if "swagger-ui-bundle.js" in u))
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_redoc_draws_the_operations_offline(offline_page: Any, server: str) -> None:
    opened = offline_page()
    opened.page.goto(server + "/redoc")
    opened.page.wait_for_selector("h1", state="attached")  # the API's title, drawn
    opened.page.get_by_text("/v1/points/nearest").first.wait_for(state="attached")
    assert opened.left == [], opened.left
    # ReDoc 2 always shows its maker's logo from their CDN; the policy keeps the browser
    # from fetching it (it says so on the console), and the page drops the image
    blocked_logo = [e for e in opened.errors if REDOC_LOGO in e and "Content Security" in e]
    assert [e for e in opened.errors if e not in blocked_logo] == [], opened.errors


def test_a_page_cannot_be_framed_by_another_site(offline_page: Any, server: str) -> None:
    """X-Frame-Options and frame-ancestors, as the browser applies them."""
    opened = offline_page()
    opened.page.goto(server + "/healthz")
    opened.page.set_content(f'<iframe id="f" src="{server}/docs"></iframe>')  # waits for load
    assert opened.page.frame_locator("#f").locator(".opblock").count() == 0
    assert any("frame" in e.lower() for e in opened.errors), opened.errors
