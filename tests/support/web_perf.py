"""The citizen page's first load on a phone's network, measured in Chromium.

Used by tests/web/test_web.py, and on its own to measure a running server:

    .venv/bin/python -m tests.support.web_perf http://127.0.0.1:8010/app

The network is Chromium's own throttling (CDP ``Network.emulateNetworkConditions``):
750 kbit/s each way and 300 ms of latency on every request, with an empty cache. The
times are taken in the page, from the start of the navigation, when the page first shows
each state (a MutationObserver installed before the page's own scripts):

- ``usable``: the page can be used: the map is laid out with its controls, the service
  list is filled, the kinds' names are in and the search box answers. The page marks
  that moment itself with ``<body data-ready>`` (``--ready`` takes another condition);
- ``tiles`` / ``outlines``: the first street tile is drawn / the province outlines are;
- ``idle``: the last response of the first load has ended (network idle);

and ``transferred`` is bytes on the wire (headers and compressed bodies), per resource.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

PHONE_NETWORK = {
    "offline": False,
    "latency": 300,  # ms added to every request
    "downloadThroughput": 750_000 / 8,  # bytes per second
    "uploadThroughput": 750_000 / 8,
}
READY = "b.hasAttribute('data-ready')"
MARKS_SCRIPT = """(() => {
  const marks = (window.__marks = {});
  const seen = (name) => { if (!(name in marks)) marks[name] = performance.now(); };
  const check = () => {
    const b = document.body;
    if (!b) return;
    if (%s) seen("usable");
    if (b.getAttribute("data-basemap") === "tiles") seen("tiles");
    if (/^[0-9]+$/.test(b.getAttribute("data-provinces") || "")) seen("outlines");
  };
  new MutationObserver(check)
    .observe(document, { subtree: true, childList: true, attributes: true });
})();"""


@dataclass
class LoadFigures:
    marks: dict[str, float]  # ms from the start of the navigation
    transferred: int
    resources: dict[str, int] = field(default_factory=dict)

    @property
    def usable_ms(self) -> float:
        return self.marks["usable"]

    def summary(self) -> str:
        times = ", ".join(f"{k} {v / 1000:.2f} s" for k, v in sorted(self.marks.items()))
        lines = [f"{times}; {self.transferred / 1024:.0f} KB transferred"]
        for name, size in sorted(self.resources.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {size / 1024:7.1f} KB  {name}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "marks_ms": {k: round(v) for k, v in self.marks.items()},
            "transferred_bytes": self.transferred,
            "resources_bytes": self.resources,
        }


def throttle(page: Any, conditions: dict[str, Any] = PHONE_NETWORK) -> Any:
    """Slow this page's network down (and keep its cache empty); returns the CDP session."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", conditions)
    return cdp


def measure_first_load(
    page: Any, url: str, ready: str = READY, wait_for: tuple[str, ...] = ("usable",)
) -> LoadFigures:
    """Open ``url`` in ``page`` on the phone network; wait for the marks, then network idle.

    ``ready`` is a JavaScript condition on the body ``b`` that says the page is usable.
    """
    page.add_init_script(MARKS_SCRIPT % ready)
    cdp = throttle(page)
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}  # bytes received, headers included (cross-origin ones too)
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(url, wait_until="commit")
    for mark in wait_for:
        page.wait_for_function(f"() => window.__marks && '{mark}' in window.__marks")
    page.wait_for_load_state("networkidle")
    marks = page.evaluate("() => window.__marks")
    marks["idle"] = page.evaluate(
        """() => Math.max(...performance.getEntriesByType('navigation')
              .concat(performance.getEntriesByType('resource')).map(e => e.responseEnd))"""
    )
    resources: dict[str, int] = {}
    for request_id, size in sizes.items():
        parsed = urlparse(urls.get(request_id, "?"))
        name = parsed.path + ("" if "v=" in parsed.query or not parsed.query else "?…")
        if parsed.path.endswith(".png") and "/static/" not in parsed.path:
            name = "street tiles"
        resources[name] = resources.get(name, 0) + int(size)
    return LoadFigures(marks=marks, transferred=sum(resources.values()), resources=resources)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the page, e.g. http://127.0.0.1:8010/app")
    parser.add_argument("--ready", default=READY, help="JS condition on the body b: usable")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--viewport", default="390x844")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    width, height = (int(v) for v in args.viewport.split("x"))
    chromium = os.environ.get("LOCATOR_TEST_CHROMIUM", "/usr/bin/chromium")
    local = urlparse(args.url).hostname
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(args.rounds):
            context = browser.new_context(
                viewport={"width": width, "height": height}, service_workers="block"
            )
            # offline, as in the tests: nothing leaves the machine (tiles fail: fallback)
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if urlparse(route.request.url).hostname in (local, "127.0.0.1", "localhost")
                    else route.abort()
                ),
            )
            figures = measure_first_load(context.new_page(), args.url, args.ready)
            print(json.dumps(figures.as_dict()) if args.json else figures.summary())
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
