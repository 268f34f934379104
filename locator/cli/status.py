"""`locator status` and `locator progress`: what the database holds, how far the
agencies' pinning has come."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from locator.cli.common import console, friendly
from locator.db.engine import make_engine

# the status and the progress pull in the ORM models (most of a second): imported by the
# commands, so that `locator --help` does not wait for them


@friendly
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Database location, migration revision, and what is loaded."""
    from locator.analysis.stats import database_status

    data = database_status(make_engine())
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(f"database: {data['database']}", highlight=False)
    console.print(f"PostgreSQL {data['server']}, PostGIS {data['postgis'] or 'not installed'}")
    rev = data["revision"] or "none (run `locator migrate`)"
    console.print(f"schema revision: {rev} (code head: {data['head']})", highlight=False)
    if data["tables"]:
        table = Table("table", "rows", title="Rows per table")
        for name, count in data["tables"].items():
            table.add_row(name, f"{count:,}")
        console.print(table)
    if data.get("areas"):
        areas = Table("level", "areas", "population 2021", title="Administrative areas")
        for level in ("province", "district", "tambon"):
            info = data["areas"].get(level, {"count": 0, "population": 0})
            areas.add_row(level, f"{info['count']:,}", f"{info['population']:,}")
        console.print(areas)
        tambons = data["areas"].get("tambon", {"count": 0, "population": 0})
        provinces = data["areas"].get("province", {"population": 0})
        console.print(
            f"population total: {tambons['population']:,} people in {tambons['count']:,} "
            f"mapped tambons ({provinces['population']:,} registered nationally, DOPA 2021)",
            highlight=False,
        )
    registry = data.get("registry")
    if registry and registry["points"]:
        _print_registry(registry)


def _print_registry(registry: dict[str, Any]) -> None:
    kinds = Table("kind", "real (pinned)", "generated", "imported", title="Service points by kind")
    for kind, counts in registry["by_kind"].items():
        kinds.add_row(
            kind,
            *(f"{counts.get(src, 0):,}" for src in ("pinned", "generated", "imported")),
        )
    src = registry["by_source"]
    kinds.add_row(
        "[bold]total[/]",
        *(f"[bold]{src.get(s, 0):,}[/]" for s in ("pinned", "generated", "imported")),
    )
    console.print(kinds)
    provinces = Table("code", "province", "real", "generated", "code", "province", "real",
                      "generated", title="Service points by province")  # fmt: skip
    rows = list(registry["by_province"].items())
    half = (len(rows) + 1) // 2

    def cells(row: tuple[str, dict[str, Any]]) -> list[str]:
        code, p = row
        return [code, f"{p['name_en']} {p['name_th']}", f"{p['real']:,}", f"{p['generated']:,}"]

    for left, right in zip(rows[:half], [*rows[half:], None], strict=True):
        provinces.add_row(*cells(left), *(cells(right) if right else []))
    console.print(provinces)
    console.print(
        f"service points: {registry['points']:,}; offerings: {registry['offerings']:,}, "
        f"of which no-copy: {registry['no_copy_offerings']:,} "
        f"({registry['no_copy_share']:.1%})",
        highlight=False,
    )
    synthetic = registry["synthetic"]
    console.print(
        f"synthetic: {registry['synthetic_share']:.1%} of the points are generated (whole); "
        f"on the {synthetic['real_points']:,} real offices the phones, hours and No-Copy "
        f"statuses are made up ({synthetic['real_points_with_provided_hours']:,} with hours "
        "their agency provided); per kind and province: `locator status --json`",
        highlight=False,
    )
    qa = registry.get("qa")
    if qa:
        console.print(
            f"pin check: {qa['needs_review']:,} points need review ("
            + ", ".join(f"{flag} {n:,}" for flag, n in qa["flags"].items())
            + ")",
            highlight=False,
        )


@friendly
def progress(
    agency: Annotated[
        str | None,
        typer.Argument(help="An agency code (dopa, dla, rtp, dopa_50); none: every department."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Pinning progress: points to pin, pinned (a real location) and validated (the pin
    check has nothing against them), by province for one agency with its sub-agencies."""
    from locator.analysis import agency_progress

    with make_engine().connect() as conn:
        data: Any = (
            agency_progress.progress(conn, agency)
            if agency
            else agency_progress.departments_progress(conn)
        )
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def counts(c: dict[str, Any]) -> list[str]:
        return [f"{c['target']:,}", f"{c['pinned']:,}", pct(c["pinned_share"]),
                f"{c['validated']:,}", pct(c["validated_share"])]  # fmt: skip

    def table_of(key: str, name: str, title: str) -> Table:
        # one line per row: a long name is cut short, never wrapped; numbers stay whole
        table = Table(title=title)
        table.add_column(key, no_wrap=True, min_width=max(5, len(key)))
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=40)
        for column in ("to pin", "pinned", "share", "validated", "share"):
            table.add_column(column, justify="right", no_wrap=True, min_width=max(6, len(column)))
        return table

    if agency is None:
        table = table_of("agency", "name", "Pinning progress by department")
        for entry in data:
            a = entry["agency"]
            table.add_row(a["code"], a["name_en"], *counts(entry["total"]))
    else:
        a = data["agency"]
        title = (
            f"Pinning progress: {a['code']}, {a['name_en']} {a['name_th']}, with its sub-agencies"
        )
        table = table_of("code", "province", title)
        for p in data["by_province"]:
            name = f"{p['name_en']} {p['name_th']}" if p["name_en"] else "(no province)"
            table.add_row(p["code"] or "-", name, *counts(p))
        table.add_row("[bold]total[/]", "", *(f"[bold]{v}[/]" for v in counts(data["total"])))
    console.print(table)
    console.print(
        "to pin: points not closed; pinned: a real location (source pinned or imported, or "
        "provided by the agency); validated: pinned, no unresolved pin-check flag",
        highlight=False,
    )
