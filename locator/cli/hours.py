"""`locator hours ...`: opening hours in and out as OpenStreetMap opening_hours text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, err, friendly, migrated_engine, refuse_rows

hours_app = typer.Typer(
    help="Opening hours in and out as OpenStreetMap opening_hours text.", no_args_is_help=True
)

# the hours' reader and writer pull in the ORM (half a second): each command imports it
# when it runs, so that `locator --help` does not wait for it


@hours_app.command("export")
@friendly
def hours_export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV file (default: standard output).")
    ] = None,
    province: Annotated[
        str | None, typer.Option("--province", help="Only this province (2-digit DOPA code).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind of point.")] = None,
) -> None:
    """Every point's hours, and each service's own, as OSM opening_hours text (CSV)."""
    from locator.agencies import hours_csv

    engine = migrated_engine()
    with engine.connect() as conn:
        rows = hours_csv.export_rows(conn, province=province, kind=kind)
        if output is None:
            hours_csv.write_csv(rows, sys.stdout)
            return
        with output.open("w", encoding="utf-8", newline="") as f:
            n = hours_csv.write_csv(rows, f)
    err.print(f"{n:,} rows written to {output}", highlight=False)


@hours_app.command("import")
@friendly
def hours_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: point_id or external_ref, [service_code,] opening_hours (OSM syntax)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, write nothing.")
    ] = False,
) -> None:
    """Set hours from OSM opening_hours text; all rows or none, each problem named."""
    from locator.agencies import hours_csv

    rows = hours_csv.read_csv(file)
    engine = migrated_engine()
    with engine.begin() as conn:
        report = hours_csv.import_rows(conn, rows, dry_run=dry_run)
    if not report.ok:
        refuse_rows(f"{file.name}: {len(report.problems)} problems",
                    ((f"row {p.row}", p.field, p.message) for p in report.problems))  # fmt: skip
    verb = "would change" if dry_run else "changed"
    console.print(
        f"{'dry run: ' if dry_run else ''}{report.rows:,} rows checked, {report.changed:,} "
        f"{verb}, {report.unchanged:,} already so",
        highlight=False,
    )
