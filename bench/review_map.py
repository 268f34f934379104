"""The review map of the whole registry: file size and render time in headless Chromium.

Run by hand:  .venv/bin/python -m bench.review_map [--rounds 5] [--url DATABASE_URL]

Builds a scratch database with the reference data and the registry (``--seed``, as
``locator load registry``; about 30 s) unless ``--url`` names one that holds it, exports
``locator map review -o`` (the command itself, timed), and opens the file ``--rounds``
times in Debian's headless Chromium, each in a fresh browser context with every request
that would leave the machine blocked. The render time is from the start of navigation
to the moment every point layer's visible tiles are painted (``locatorReview.ready``, on
the page's own ``performance.now()`` clock, whose zero is the navigation's start); the
wall time around ``goto`` and the wait is printed beside it, and so is the time from a
click on a known point to its popup. Targets (issue 11): <= 15 MB and <= 5 s.
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
from urllib.parse import urlparse

from bench.common import scratch_database
from locator.ingest.registry import load_registry
from locator.settings import get_settings
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.cli import LOCATOR

TARGET_MB, TARGET_S = 15.0, 5.0


def export(url: str, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [LOCATOR, "map", "review", "-o", str(out)],
        env={**os.environ, "LOCATOR_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"locator map review failed: {done.stderr.strip()}")
    print(done.stdout.strip())
    return elapsed


def render_once(browser: Any, path: Path) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    left: list[str] = []
    errors: list[str] = []

    def offline_only(route: Any) -> None:
        if route.request.url.startswith(("file:", "data:")) or urlparse(
            route.request.url
        ).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", offline_only)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), timeout=120_000)
        page.wait_for_function(
            "() => window.locatorReview && locatorReview.ready !== null", timeout=120_000
        )
        wall = time.perf_counter() - started
        ready_ms = float(page.evaluate("locatorReview.ready"))
        drawn = float(page.evaluate("locatorReview.drawn"))
        # a click on the first point, at a street zoom: time to its popup
        page.evaluate(
            """() => { const c = locatorReview.data.columns;
                locatorReview.map.setView([c.lat[0] / 1e5, c.lon[0] / 1e5], 16,
                                          {animate: false}); }"""
        )
        page.wait_for_function(
            "() => !document.querySelector("
            "'.leaflet-tile-container canvas:not(.leaflet-tile-loaded)')"
        )
        size = page.viewport_size or {"width": 1280, "height": 800}
        clicked = time.perf_counter()
        page.mouse.click(size["width"] / 2, size["height"] / 2)
        page.wait_for_selector(".leaflet-popup-content")
        popup = time.perf_counter() - clicked
        in_page = float(page.evaluate("locatorReview.clickMs")) / 1000
        if errors or left:
            raise SystemExit(f"the map failed: errors {errors}, outside requests {left}")
        return {
            "render_s": ready_ms / 1000,
            "wall_s": wall,
            "drawn": drawn,
            "popup_s": popup,
            "click_s": in_page,
        }
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--url", help="a database that already holds the registry")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "review.html"
        if args.url:
            export_s = export(args.url, out)
        else:
            with scratch_database("locator_bench_review") as engine:
                settings = get_settings()
                started = time.perf_counter()
                load_registry(engine, settings.data_dir, settings.catalogue_dir, seed=args.seed)
                print(f"registry loaded in {time.perf_counter() - started:.1f} s")
                url = engine.url.render_as_string(hide_password=False)
                export_s = export(url, out)
        size_mb = out.stat().st_size / 1e6
        runs = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for i in range(args.rounds):
                    run = render_once(browser, out)
                    runs.append(run)
                    print(
                        f"round {i + 1}: render {run['render_s']:.2f} s "
                        f"(wall {run['wall_s']:.2f} s), {run['drawn']:,.0f} points painted, "
                        f"click to popup {run['popup_s'] * 1000:.0f} ms "
                        f"({run['click_s'] * 1000:.1f} ms of it in the page's click handler)"
                    )
            finally:
                browser.close()

    render = statistics.median(r["render_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    popup = statistics.median(r["popup_s"] for r in runs)
    click = statistics.median(r["click_s"] for r in runs)
    print()
    print(f"export (locator map review, whole command): {export_s:.1f} s")
    print(
        f"file size: {size_mb:.2f} MB (target <= {TARGET_MB:g} MB: "
        f"{'met' if size_mb <= TARGET_MB else 'NOT met'})"
    )
    each = ", ".join(f"{r['render_s']:.2f}" for r in runs)
    print(
        f"render, median of {len(runs)}: {render:.2f} s from navigation to every point painted "
        f"(runs {each}; wall {wall:.2f} s; "
        f"target <= {TARGET_S:g} s: {'met' if render <= TARGET_S else 'NOT met'})"
    )
    print(
        f"click to popup, median: {popup * 1000:.0f} ms through Playwright, "
        f"{click * 1000:.1f} ms in the page (finding the point among all, building the popup)"
    )


if __name__ == "__main__":
    main()
