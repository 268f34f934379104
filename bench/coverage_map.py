"""Coverage choropleths in headless Chromium: how long a national map takes to render.

Run by hand:  .venv/bin/python -m bench.coverage_map [--rounds 5] [--url DATABASE_URL]

Uses the demo database (or ``--url``; it must hold the registry), exports two maps with
the command an analyst runs (``locator coverage --service land_title_transfer
--threshold-km 10 --threshold-km 20 --sites 5 --level district|tambon --map F.html``,
timed), and opens each file ``--rounds`` times in Debian's headless Chromium, each in a
fresh browser context with every request that would leave the machine blocked. The
render time is from the start of navigation to the moment the areas are painted on the
canvas (``locatorChoropleth.ready``, on the page's own ``performance.now()`` clock, whose
zero is the navigation's start); the wall time around ``goto`` and the wait is printed
beside it. Target (issue 13): a district choropleth rendered in <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from locator.db.engine import database_url
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.cli import LOCATOR

TARGET_S = 2.0
READY = "() => window.locatorChoropleth && locatorChoropleth.ready !== null"


def export(url: str, level: str, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [LOCATOR, "coverage", "--service", "land_title_transfer", "--threshold-km", "10",
         "--threshold-km", "20", "--sites", "5", "--level", level, "--worst", "10",
         "--map", str(out)],
        env={**os.environ, "LOCATOR_DATABASE_URL": url}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"locator coverage failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def render_once(browser: Any, path: Path) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        started = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_function(READY, timeout=60_000)
        wall = time.perf_counter() - started
        ready_ms = float(page.evaluate("locatorChoropleth.ready"))
        areas = int(page.evaluate("locatorChoropleth.areas"))
        if errors:
            raise SystemExit(f"JavaScript errors: {errors}")
        return {"render_s": ready_ms / 1000, "wall_s": wall, "areas": areas}
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default=None, help="a database holding the registry")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    url = args.url or str(database_url())
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for level in ("district", "tambon"):
            out = Path(folder) / f"coverage-{level}.html"
            export_s = export(url, level, out)
            runs = [render_once(browser, out) for _ in range(args.rounds)]
            renders = [r["render_s"] for r in runs]
            walls = [r["wall_s"] for r in runs]
            median = statistics.median(renders)
            verdict = ""
            if level == "district":
                verdict = (
                    f"  (target <= {TARGET_S:g} s: {'met' if median <= TARGET_S else 'NOT met'})"
                )
            print(f"{level}: {runs[0]['areas']:,} areas, {out.stat().st_size / 1e6:.2f} MB, "
                  f"exported by the command in {export_s:.1f} s")  # fmt: skip
            print(f"  rendered (navigation start -> areas painted): median {median:.2f} s, "
                  f"runs {', '.join(f'{t:.2f}' for t in renders)}{verdict}")  # fmt: skip
            print(f"  wall time around goto and the wait: median {statistics.median(walls):.2f} s")
        browser.close()


if __name__ == "__main__":
    main()
