"""The headless Chromium the browser tests and the map benchmarks drive (Playwright)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("LOCATOR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
