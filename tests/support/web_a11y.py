"""axe-core in the browser tests: the WCAG 2.1 A and AA rules, run in the page.

axe-core comes from the PyPI package ``axe-playwright-python`` (it ships ``axe.min.js``,
so nothing is fetched at test time). The script is put into the page with
``page.evaluate`` (the DevTools protocol, which the page's Content-Security-Policy does
not apply to), then ``axe.run`` checks the document as it is at that moment.
"""

from __future__ import annotations

from typing import Any

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _axe_source() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


def axe_violations(page: Any, tags: list[str] = WCAG_21_AA) -> list[dict[str, Any]]:
    """The violations axe-core finds in the page now, for the rules with these tags."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                      resultTypes: ['violations']})""",
        tags,
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per offending element: the rule, its target and axe's own explanation."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            why = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"{v['id']} ({v['impact']}): {target}: {why}")
    return "\n".join(lines)


def count_by_rule(violations: list[dict[str, Any]]) -> dict[str, int]:
    return {v["id"]: len(v["nodes"]) for v in violations}


def assert_accessible(page: Any, state: str) -> None:
    """No WCAG 2.1 A/AA violation in the page now; ``state`` names it in the failure."""
    violations = axe_violations(page)
    assert violations == [], f"axe-core, {state}:\n{describe(violations)}"
