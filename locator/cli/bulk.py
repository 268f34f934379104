"""`locator import` and `locator export`: an agency's points in bulk, as files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, err, friendly, migrated_engine, refuse_rows
from locator.errors import LocatorError
from locator.progress import RichReporter
from locator.registry.hours import BANGKOK
from locator.settings import get_settings

# the bulk reader and writer pull in pandas, GeoPandas and the ORM (about a second): each
# command imports them when it runs, so that `locator --help` does not wait for them


@friendly
def import_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8, lat/lon columns), GeoJSON or GeoPackage, with the columns "
            "`locator export` writes; the extension says which."
        ),
    ],
    agency: Annotated[
        str, typer.Option("--agency", help="The agency the points belong to (e.g. dopa_50).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, write nothing.")
    ] = False,
    override: Annotated[
        bool,
        typer.Option(
            "--override", help="Save rows whose pin and address disagree (recorded; reviewed)."
        ),
    ] = False,
    confirm_duplicates: Annotated[
        bool,
        typer.Option("--confirm-duplicates", help="Save rows that look like existing points."),
    ] = False,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", help="Record the changes as this account's (default: no account)."
        ),
    ] = None,
) -> None:
    """Import an agency's points: all rows or none, each bad row named."""
    from locator.agencies import accounts
    from locator.agencies.bulk import formats, importer

    if not file.is_file():
        raise LocatorError(f"no such file: {file}")
    settings = get_settings()
    with file.open("rb") as stream:  # read as a stream, up to the row cap
        table = formats.read_file(stream, formats.detect_format(file.name), file.name,
                                  max_rows=settings.max_import_rows)  # fmt: skip
    engine = migrated_engine()
    with engine.begin() as conn:
        account_id = None
        if account is not None:
            found = accounts.find_active(conn, account)
            if found is None:
                raise LocatorError(f"no active account {account!r} (locator accounts list)")
            account_id = found.id
        with RichReporter(err) as reporter:
            report = importer.import_points(conn, settings, agency, table,
                                        account_id=account_id, dry_run=dry_run,
                                        override=override, confirm_duplicates=confirm_duplicates,
                                        reporter=reporter)  # fmt: skip
    if not report.ok:
        refuse_rows(f"{file.name}: {len(report.problems)} problems",
                    ((str(p.row), p.field, p.message) for p in report.problems))  # fmt: skip
    verb = "would be" if dry_run else "were"
    console.print(
        f"{'dry run: ' if dry_run else ''}{report.rows:,} rows: {report.created:,} new points, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged {verb} imported for "
        f"{agency} in {report.seconds.get('total', 0):.1f} s",
        highlight=False,
    )
    for o in report.overridden:
        console.print(f"row {o['row']}: point {o['point_id']} saved over {', '.join(o['flags'])}"
                      " (needs review)", highlight=False)  # fmt: skip


@friendly
def export_cmd(
    agency: Annotated[str, typer.Argument(help="The agency (with the agencies below it).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="A .csv, .geojson or .gpkg file.")],
    modified_after: Annotated[
        str | None,
        typer.Option("--modified-after", help="Only points changed after this ISO 8601 time."),
    ] = None,
    include_closed: Annotated[
        bool, typer.Option("--include-closed", help="Closed points too.")
    ] = False,
) -> None:
    """Export an agency's points in the shape `locator import` reads back."""
    from locator.agencies.bulk import export, formats

    fmt = formats.detect_format(output.name)
    after = None
    if modified_after is not None:
        try:
            after = dt.datetime.fromisoformat(modified_after)
        except ValueError:
            raise LocatorError(
                f"--modified-after {modified_after!r}: not an ISO 8601 time"
            ) from None
        if after.tzinfo is None:
            after = after.replace(tzinfo=BANGKOK)  # as everywhere: no offset, Bangkok time
    engine = migrated_engine()
    with engine.connect() as conn:
        rows = export.export_rows(conn, agency, modified_after=after, include_closed=include_closed)
    output.write_bytes(formats.write_file(rows, fmt))
    err.print(f"{len(rows):,} points of {agency} written to {output}", highlight=False)
