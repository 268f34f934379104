"""`locator load ...` and `locator qa`: the reference geodata, the registry, its pin check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locator.cli.common import console, friendly, migrated_engine
from locator.progress import RichReporter
from locator.registry import public_holidays
from locator.settings import get_settings

load_app = typer.Typer(help="Load data into the database.", no_args_is_help=True)

# the loaders and the pin check pull in GeoPandas and the ORM (one to three seconds):
# each command imports its own when it runs, so that `locator --help` does not wait


@load_app.command("reference")
@friendly
def load_reference_cmd() -> None:
    """Provinces, districts and tambons with polygons, postcodes and 2021 population."""
    from locator.ingest.reference import load_reference

    settings = get_settings()
    engine = migrated_engine()
    started = time.perf_counter()
    with RichReporter(console) as reporter:
        report = load_reference(engine, settings.data_dir, reporter)
    console.print(
        f"loaded {report.provinces} provinces, {report.districts} districts, "
        f"{report.tambons:,} tambons from {settings.data_dir} "
        f"in {time.perf_counter() - started:.1f} s\n"
        f"population 2021: {report.population_in_tambons:,} in mapped tambons "
        f"({report.population_registered:,} registered nationally)\n"
        f"public holidays {public_holidays.years().start}-{public_holidays.years().stop - 1}: "
        f"{report.public_holidays} days (the holidays package)",
        highlight=False,
    )
    if report.tambons_without_polygon:
        console.print(
            f"{len(report.tambons_without_polygon)} tambons in the DOPA list have no polygon "
            f"in the 2019 file: {', '.join(report.tambons_without_polygon)}",
            highlight=False,
        )
    if report.polygons_with_retired_codes:
        console.print(
            "polygons whose codes DOPA has since retired (kept with their 2019 names): "
            + ", ".join(report.polygons_with_retired_codes),
            highlight=False,
        )


@load_app.command("registry")
@friendly
def load_registry_cmd(
    seed: Annotated[int | None, typer.Option(help="Seed of the generated points.")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Rebuild a registry that already holds points.")
    ] = False,
    scale: Annotated[
        float,
        typer.Option(min=0.01, max=100, help="Multiply the generated kinds' counts (benchmarks)."),
    ] = 1.0,
) -> None:
    """The service catalogue and the national registry of about 60,000 service points."""
    from locator.ingest.registry import load_registry, write_report

    settings = get_settings()
    engine = migrated_engine()
    with RichReporter(console) as reporter:
        report = load_registry(
            engine,
            settings.data_dir,
            settings.catalogue_dir,
            seed=settings.registry_seed if seed is None else seed,
            replace=replace,
            reporter=reporter,
            scale=scale,
        )
    path = write_report(report, settings.state_dir / "reports")
    console.print(
        f"loaded {report.points:,} service points ({report.by_source.get('pinned', 0):,} real, "
        f"{report.by_source.get('generated', 0):,} generated), {report.offerings:,} offerings, "
        f"{report.agencies:,} agencies in {report.seconds['total']:.1f} s (seed {report.seed}; "
        f"pin check of the real offices {report.seconds['qa']:.2f} s)\n"
        f"pin check: {report.qa_points_flagged:,} real offices need review ("
        + ", ".join(f"{flag} {n:,}" for flag, n in report.qa.items())
        + "; `locator qa` writes the report)\n"
        f"no-copy share of offerings: {report.no_copy_share:.1%}\n"
        f"real offices outside the simplified tambon polygons: "
        f"{len(report.real_outside_polygons)} (given the nearest tambon, at most "
        f"{max((r['distance_m'] for r in report.real_outside_polygons), default=0):,.0f} m away)\n"
        f"real offices whose own code names another area than the polygon they fall in: "
        f"{len(report.real_code_mismatches)} (reported, not moved)\n"
        f"skipped real offices: "
        + (", ".join(f"{n} {why}" for why, n in report.real_offices_skipped.items()) or "none")
        + f"\nfull build report: {path}",
        highlight=False,
    )


@friendly
def qa(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the QA report here (CSV).")
    ] = None,
    all_points: Annotated[
        bool,
        typer.Option(
            "--all-points", help="Check the generated points too (about 30 s; default: real)."
        ),
    ] = False,
) -> None:
    """Run the pin check again (`locator.registry.pincheck`), store its flags, write the report."""
    from locator.registry import pincheck

    settings = get_settings()
    engine = migrated_engine()
    with engine.begin() as conn:
        result = pincheck.check_registry(conn, settings, real_only=not all_points)
        pincheck.store(conn, result)
        path = output or settings.state_dir / "reports" / "qa.csv"
        rows = pincheck.write_report(conn, path)
    table = Table("flag", "findings", title=f"Pin check of {result.checked:,} points")
    for flag, n in result.counts.items():
        table.add_row(flag, f"{n:,}")
    console.print(table)
    console.print(
        f"{result.points_flagged:,} points need review; {rows:,} rows written to {path} "
        f"(check: {result.seconds:.2f} s)",
        highlight=False,
    )
