"""The command line: `locator --help`.

Every command that needs a database starts the embedded cluster on demand (unless
LOCATOR_DATABASE_URL points elsewhere). Domain errors print their message and exit 2.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from locator.errors import ConfigurationError, LocatorError
from locator.registry import public_holidays
from locator.settings import get_settings
from locator.travel.modes import Mode

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import URL

    from locator.db.cluster import LocalCluster

app = typer.Typer(help="Thai government service-point locator.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster.", no_args_is_help=True)
load_app = typer.Typer(help="Load data into the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(load_app, name="load")
roads_app = typer.Typer(help="Road networks for routing (OSRM).", no_args_is_help=True)
app.add_typer(roads_app, name="roads")
map_app = typer.Typer(
    help="Maps as single HTML files that open with no internet.", no_args_is_help=True
)
app.add_typer(map_app, name="map")
hours_app = typer.Typer(
    help="Opening hours in and out as OpenStreetMap opening_hours text.", no_args_is_help=True
)
app.add_typer(hours_app, name="hours")
accounts_app = typer.Typer(
    help="Agency accounts and their API keys (the agencies' door).", no_args_is_help=True
)
app.add_typer(accounts_app, name="accounts")

# soft wrap: a long line (a URL, an error) stays one line, whatever the terminal's width
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

# what a domain error's ``action`` means on the command line
CLI_ACTIONS = {
    "migrate": "run `locator migrate`",
    "load_reference": "run `locator load reference`",
    "replace": "run the command again with --replace",
    "dump": "name a dump made by `locator db dump` (it writes FILE.manifest.json beside it)",
    "install_osrm": "run `make venv`",
    "import_roads": "run `locator roads import FILE.osm.pbf`",
    "start_roads": "run `locator roads start`",
}


def friendly(fn: F) -> F:
    """Show a domain or database error as one clear line, not a traceback; exit 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import ArgumentError, DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        try:
            return fn(*args, **kwargs)
        except LocatorError as exc:
            step = CLI_ACTIONS.get(exc.action or "")
            message = f"{exc.message}: {step}" if step else exc.message
            err.print(f"[bold red]error:[/] {message}", highlight=False)
            raise typer.Exit(2) from exc
        except (DBAPIError, ArgumentError, PoolTimeout) as exc:
            url = get_settings().database_url
            err.print(f"[bold red]error:[/] {explain_database_error(exc, url)}", highlight=False)
            raise typer.Exit(2) from exc

    return cast(F, wrapper)


def explain_database_error(exc: BaseException, url: str | URL | None = None) -> str:
    from sqlalchemy.engine import make_url

    """One line for a person: what the database said, where, and what to do about it."""
    orig = getattr(exc, "orig", None) or exc
    said = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    said = said.split(" failed: ", 1)[-1].replace("FATAL:", "").strip()  # libpq's preamble
    where = ""
    if url is not None:
        try:
            u = make_url(url)
            host = u.query.get("host") or u.host or "localhost"
            port = u.query.get("port") or u.port or 5432
            where = f" ({u.database!r} as {u.username} on {host}, port {port})"
        except Exception:  # an unparsable URL is the message itself
            where = ""
    low = said.lower()
    pgcode = str(getattr(orig, "pgcode", None) or "")
    if pgcode and not pgcode.startswith(("08", "28", "3D")):
        # the server answered: a statement it refused, not a connection problem
        return f"database error{where}: {said}"
    if any(k in low for k in ("password", "authentication", "role", "permission denied")):
        hint = "check the user and password in LOCATOR_DATABASE_URL"
    elif "does not exist" in low and "database" in low:
        hint = "create the database, or check its name in LOCATOR_DATABASE_URL"
    elif any(k in low for k in ("could not parse", "can't load plugin", "url")):
        hint = "LOCATOR_DATABASE_URL must look like postgresql+psycopg2://user:pw@host:5432/db"
    else:
        hint = (
            "is the server running and reachable? (`locator db start` starts the embedded "
            "one; LOCATOR_DATABASE_URL names another)"
        )
    return f"database error{where}: {said}; {hint}"


def _cluster() -> LocalCluster:
    from locator.db.cluster import LocalCluster

    settings = get_settings()
    if settings.database_url:
        err.print("LOCATOR_DATABASE_URL is set: the embedded cluster is not used.")
        raise typer.Exit(2)
    return LocalCluster(settings)


def _engine() -> Engine:
    from locator.db.engine import make_engine

    return make_engine()


# --- db ----------------------------------------------------------------------------------
@db_app.command("start")
@friendly
def db_start() -> None:
    """Start the embedded cluster (a no-op when it already runs)."""
    cluster = _cluster()
    started = cluster.start()
    state = "started" if started else "already running"
    console.print(f"database {state}: {cluster.url()}", highlight=False)


@db_app.command("stop")
@friendly
def db_stop() -> None:
    """Stop the embedded cluster."""
    cluster = _cluster()
    console.print("database stopped" if cluster.stop() else "database was not running")


@db_app.command("status")
@friendly
def db_status() -> None:
    """Is the embedded cluster running, and where."""
    status = _cluster().status()
    console.print(
        f"running: {'yes' if status.running else 'no'}\n"
        f"pid: {status.pid or '-'}\ndata: {status.data_dir}\n"
        f"socket: {status.socket_dir} (port {status.port})\nurl: {status.url}",
        highlight=False,
    )
    raise typer.Exit(0 if status.running else 3)


@db_app.command("url")
@friendly
def db_url() -> None:
    """Print the SQLAlchemy URL of the database every command uses (starting it if needed)."""
    from locator.db.engine import database_url

    print(database_url())


@db_app.command("dump")
@friendly
def db_dump(
    file: Annotated[Path, typer.Argument(help="The dump to write (pg_dump custom format).")],
) -> None:
    """Dump the database to FILE, with FILE.manifest.json: rows and checksums per table."""
    from locator.db.backup import dump
    from locator.progress import RichReporter

    with RichReporter(console) as reporter:
        result = dump(get_settings(), file, reporter)
    console.print("\n".join(result.summary()), highlight=False)


@db_app.command("restore")
@friendly
def db_restore(
    file: Annotated[Path, typer.Argument(help="A dump written by `locator db dump`.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a database that holds service points.")
    ] = False,
) -> None:
    """Restore FILE (its data all or nothing), grant the API roles, verify every table."""
    from locator.db.backup import restore
    from locator.progress import RichReporter

    with RichReporter(console) as reporter:
        result = restore(get_settings(), file, replace=replace, reporter=reporter)
    console.print("\n".join(result.summary()), highlight=False)


# --- migrate / load ----------------------------------------------------------------------
@roads_app.command("import")
@friendly
def roads_import(
    file: Annotated[Path, typer.Argument(help="An OpenStreetMap extract (.osm.pbf).")],
) -> None:
    """Prepare FILE for OSRM (car and foot profiles, MLD); replaces the current network."""
    from locator.progress import RichReporter
    from locator.travel import roads
    from locator.travel.osrm.engine import RoutingEngine
    from locator.travel.osrm.prepare import prepare, roads_dir

    settings = get_settings()
    engine = _engine()
    _require_schema(engine)
    started = time.perf_counter()
    with RichReporter(console) as reporter:
        made = prepare(file, settings, reporter)
        graph = roads.import_graph(engine, file, settings, reporter)

    restarted = RoutingEngine(settings).restart_running()
    modes = ", ".join(
        f"{mode} {made.seconds[mode]:.1f} s ({made.bytes[mode] / 2**20:.1f} MiB)"
        for mode in made.seconds
    )
    console.print(
        f"prepared {Path(made.source).name} for OSRM {made.osrm_version} in "
        f"{time.perf_counter() - started:.1f} s: {modes}; in {roads_dir(settings)}; "
        f"road graph in PostGIS: {len(graph.vertices):,} vertices, {len(graph.edges):,} edges",
        highlight=False,
    )
    if restarted:
        console.print(f"restarted the running engines on the new network: {', '.join(restarted)}")


@roads_app.command("status")
@friendly
def roads_status() -> None:
    """Which road network is imported, from what and when, and which engines run."""
    from locator.travel.modes import PROFILES
    from locator.travel.osrm.engine import RoutingEngine
    from locator.travel.osrm.prepare import read_manifest, roads_dir

    settings = get_settings()
    made = read_manifest(settings)
    if made is None:
        console.print("no road network imported: run `locator roads import FILE.osm.pbf`")
        return
    console.print(
        f"road network: {made.source} ({made.source_bytes / 2**20:.1f} MiB, sha256 "
        f"{made.source_sha256[:12]}), imported {made.imported_at} with OSRM "
        f"{made.osrm_version}; modes: {', '.join(made.seconds)}; in {roads_dir(settings)}",
        highlight=False,
    )
    engine = RoutingEngine(settings)
    for mode in PROFILES:
        s = engine.status(mode)
        state = f"running on {s.url} (pid {s.pid})" if s.running else "stopped"
        console.print(f"{mode} engine: {state}", highlight=False)


@roads_app.command("start")
@friendly
def roads_start() -> None:
    """Start the routing engines (osrm-routed on loopback) for every mode."""
    from locator.travel.modes import PROFILES
    from locator.travel.osrm.engine import RoutingEngine

    engine = RoutingEngine(get_settings())
    for mode in PROFILES:
        started = engine.start(mode)
        s = engine.status(mode)
        verb = "started" if started else "already running"
        console.print(f"{mode} engine {verb} on {s.url}", highlight=False)


@roads_app.command("stop")
@friendly
def roads_stop() -> None:
    """Stop the routing engines."""
    from locator.travel.modes import PROFILES
    from locator.travel.osrm.engine import RoutingEngine

    engine = RoutingEngine(get_settings())
    for mode in PROFILES:
        stopped = engine.stop(mode)
        console.print(f"{mode} engine {'stopped' if stopped else 'was not running'}")


# --- map ---------------------------------------------------------------------------------
@map_app.command("route")
@friendly
def map_route(
    from_: Annotated[str, typer.Option("--from", help="Where the route starts: LAT,LON.")],
    to: Annotated[str, typer.Option("--to", help="A service point's id, or LAT,LON.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    mode: Annotated[Mode, typer.Option(help="How the trip is made.")] = "drive",
) -> None:
    """A map of the route (the line, both ends, where they join the road, time and
    distance), or of the labelled straight-line estimate where no imported road network
    covers the place."""
    from locator.maps.base import distance_words, duration_words, save
    from locator.maps.route import make_route_map

    settings = get_settings()
    engine = _engine()
    _require_schema(engine)
    with engine.connect() as conn:
        m, route = make_route_map(conn, settings, from_, to, mode)
    save(m, output)
    how = (
        f"a straight-line estimate ({route['estimate']['reason']})"
        if route["method"] == "straight_line"
        else f"on the roads (OSRM, {route['mode']})"
    )
    console.print(
        f"wrote {output}: {distance_words(route['distance_m'])}, "
        f"{duration_words(route['duration_s'])}, {how}",
        highlight=False,
    )


@map_app.command("review")
@friendly
def map_review(
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    province: Annotated[
        str | None,
        typer.Option(help="Only this province: its 2-digit code, Thai or English name."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind of point, e.g. land_office.")
    ] = None,
    source: Annotated[
        Literal["real", "generated"] | None,
        typer.Option(help="Only real (pinned or imported) or only generated points."),
    ] = None,
    status: Annotated[
        Literal["active", "temporarily_closed", "closed", "any"],
        typer.Option(help="Operating status; every point by default."),
    ] = "any",
) -> None:
    """Every selected point (by default the whole registry) on one map for review: real
    and generated points and each QA flag as layers, a popup with the point's facts and
    provenance; one HTML file that opens with no internet."""
    from locator.maps.base import save
    from locator.maps.review import review_map

    engine = _engine()
    _require_schema(engine)
    with engine.connect() as conn:
        m, summary = review_map(conn, province=province, kind=kind, source=source, status=status)
    save(m, output)
    size = output.stat().st_size / 1e6
    flags = f", {summary.flagged:,} flagged ({', '.join(summary.flags)})" if summary.flags else ""
    console.print(
        f"wrote {output}: {summary.points:,} points ({summary.real:,} real, "
        f"{summary.generated:,} generated{flags}), {size:.1f} MB",
        highlight=False,
    )


@app.command()
@friendly
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    downgrade: Annotated[bool, typer.Option(help="Downgrade to the revision instead.")] = False,
) -> None:
    """Apply the schema migrations (Alembic)."""
    from locator.db import migrate as m

    engine = _engine()
    if downgrade:
        m.downgrade(engine, revision)
    else:
        m.upgrade(engine, revision)
    with engine.connect() as conn:
        console.print(f"schema at revision {m.current_revision(conn) or 'base'}")


@load_app.command("reference")
@friendly
def load_reference_cmd() -> None:
    """Provinces, districts and tambons with polygons, postcodes and 2021 population."""
    from locator.ingest.reference import load_reference
    from locator.progress import RichReporter

    settings = get_settings()
    engine = _engine()
    _require_schema(engine)
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
    from locator.progress import RichReporter

    settings = get_settings()
    engine = _engine()
    _require_schema(engine)
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


@app.command()
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
    engine = _engine()
    _require_schema(engine)
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


# --- hours in OSM syntax ---------------------------------------------------------------
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
    import sys

    from locator.agencies import hours_csv

    engine = _engine()
    _require_schema(engine)
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
    engine = _engine()
    _require_schema(engine)
    with engine.begin() as conn:
        report = hours_csv.import_rows(conn, rows, dry_run=dry_run)
    if not report.ok:
        table = Table(
            "row", "field", "problem", title=f"{file.name}: {len(report.problems)} problems"
        )
        for p in report.problems:
            table.add_row(f"row {p.row}", p.field, p.message)
        console.print(table)
        console.print("nothing was written: fix the rows above and import again", highlight=False)
        raise typer.Exit(2)
    verb = "would change" if dry_run else "changed"
    console.print(
        f"{'dry run: ' if dry_run else ''}{report.rows:,} rows checked, {report.changed:,} "
        f"{verb}, {report.unchanged:,} already so",
        highlight=False,
    )


# --- coverage gaps ---------------------------------------------------------------------
COVERAGE_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".parquet": "parquet", ".csv": "csv"}


def write_areas(areas: Any, path: Path) -> None:
    """An aggregated coverage table in the format its extension names. CSV carries no
    polygons: each area's representative point as lat/lon instead."""
    suffix = path.suffix.lower()
    if suffix not in COVERAGE_FORMATS:
        raise LocatorError(f"{path.name}: write a {', '.join(COVERAGE_FORMATS)} file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        areas.to_parquet(path)
    elif suffix == ".csv":
        points = areas.geometry.representative_point()
        flat = areas.drop(columns="geometry").assign(lat=points.y.round(6), lon=points.x.round(6))
        flat.to_csv(path, index=False, encoding="utf-8")
    else:
        if path.exists():
            path.unlink()  # GDAL would add a layer to an old GeoPackage
        areas.to_file(path, driver=COVERAGE_FORMATS[suffix], engine="pyogrio")


@map_app.command("no-copy")
@friendly
def map_no_copy(
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's offerings.")
    ] = None,
) -> None:
    """No-Copy share by province: offerings that need no photocopies, as a choropleth
    that says the statuses are generated; one HTML file that opens with no internet."""
    from locator.maps.base import save
    from locator.maps.no_copy import no_copy_map
    from locator.query.filters import PointFilter

    engine = _engine()
    _require_schema(engine)
    with engine.connect() as conn:
        m = no_copy_map(conn, PointFilter(service=service, status="any"))
    save(m, output)
    console.print(f"wrote {output}: {output.stat().st_size / 1e6:.1f} MB", highlight=False)


@app.command()
@friendly
def coverage(
    service: Annotated[
        str | None, typer.Option("--service", help="A catalogue code; left out: any service.")
    ] = None,
    no_copy: Annotated[
        bool, typer.Option("--no-copy", help="Only offerings that need no photocopies.")
    ] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind of point.")] = None,
    agency: Annotated[
        str | None, typer.Option("--agency", help="Only this agency's points (and below).")
    ] = None,
    threshold_km: Annotated[
        list[float] | None,
        typer.Option("--threshold-km", help="Distance thresholds, km (repeat; default 5 10 20)."),
    ] = None,
    threshold_min: Annotated[
        list[float] | None,
        typer.Option(
            "--threshold-min",
            help="Travel-time thresholds, minutes, on the imported road network (repeat).",
        ),
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="tambon, district or province.")
    ] = "district",
    sites: Annotated[
        int, typer.Option("--sites", min=0, max=200, help="Suggest this many new sites.")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The areas as .gpkg, .geojson, .parquet or .csv."),
    ] = None,
    worst: Annotated[int, typer.Option("--worst", min=0, help="Worst tambons to list.")] = 10,
    map_file: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="Also a choropleth of the largest threshold (.html, opens offline), with "
            "the worst tambons and the suggested sites as layers.",
        ),
    ] = None,
) -> None:
    """Coverage gaps: people beyond N km (or N minutes) of a point offering a service."""
    from sqlalchemy import text

    from locator.analysis import coverage as cov
    from locator.query.filters import PointFilter

    if threshold_km and threshold_min:
        raise LocatorError("give --threshold-km or --threshold-min, not both")
    if level not in ("tambon", "district", "province"):
        raise LocatorError(f"--level {level!r}: tambon, district or province")
    mode: cov.Measure = "travel_time" if threshold_min else "distance"
    thresholds = threshold_min or threshold_km or [5.0, 10.0, 20.0]
    try:
        f = PointFilter(service=service, no_copy=True if no_copy else None, kind=kind,
                        agency=agency)  # fmt: skip
    except ValueError as exc:
        raise LocatorError(str(exc).splitlines()[-1]) from None
    engine = _engine()
    _require_schema(engine)
    with engine.connect() as conn:
        from locator.query.filters import check_codes

        check_codes(conn, f)
        try:
            result = cov.coverage(conn, get_settings(), f, thresholds=thresholds, mode=mode)
        except ValueError as exc:
            raise LocatorError(str(exc)) from None
        polygons = output is not None or map_file is not None
        areas = cov.aggregate(result, level, conn, with_polygons=polygons)  # type: ignore[arg-type]
        siting = cov.suggest_sites(result, sites) if sites else None
        if map_file is not None:
            from locator.maps.base import save
            from locator.maps.coverage import coverage_map, demo_data_warning

            if level == "province":
                raise LocatorError("--map draws districts or tambons: give --level district")
            largest = max(result.thresholds)
            unit_word: Literal["km", "min"] = "km" if mode == "distance" else "min"
            named = conn.execute(
                text("SELECT name_th, name_en FROM service WHERE code = :c"), {"c": service}
            ).first()
            service_th, service_en = (named.name_th, named.name_en) if named else (
                "ทุกบริการ", "any service")  # fmt: skip
            m = coverage_map(
                areas, largest, worst=cov.worst_units(result, worst or 10), sites=siting,
                title_th=f"ประชากรที่อยู่ห่างเกิน {largest:g} {unit_word}: {service_th}"
                + (" (ไม่ต้องใช้สำเนา)" if no_copy else ""),
                title_en=f"People beyond {largest:g} {unit_word}: {service_en}"
                + (" (no photocopies)" if no_copy else ""),
                unit=unit_word, level=level, warning=demo_data_warning(conn),
            )  # fmt: skip
            save(m, map_file)
    s = cov.summary(result)
    unit = s["unit"]
    what = f"{service or 'any service'}{' (no photocopies)' if no_copy else ''}"
    console.print(
        f"coverage of {what}: {s['points']:,} points, {s['units']:,} populated tambons, "
        f"{s['population']:,} people ({s['seconds']:.2f} s)",
        highlight=False,
    )
    table = Table("beyond", "people", "share")
    for b in s["beyond"]:
        table.add_row(f"{b['threshold']:g} {unit}", f"{b['people']:,}", f"{b['share']:.1%}")
    console.print(table)
    for note in s["notes"]:
        console.print(f"note: {note}", highlight=False)
    if worst:
        top = f"share_beyond_{max(result.thresholds):g}"
        shown = areas.sort_values([top, "population"], ascending=False).head(worst)
        t = Table(level, "name", "people", f"beyond {max(result.thresholds):g} {unit}",
                  title=f"the worst {level}s")  # fmt: skip
        for _, r in shown.iterrows():
            t.add_row(str(r["code"]), f"{r['name_th']} {r['name_en']}",
                      f"{int(r['population']):,}", f"{r[top]:.1%}")  # fmt: skip
        console.print(t)
    if siting is not None:
        t = Table("#", "tambon", "people brought within reach",
                  title=f"{sites} suggested sites ({siting.threshold:g} {unit})")  # fmt: skip
        for _, r in siting.sites.iterrows():
            t.add_row(str(r["order"]), f"{r['code']} {r['name_th']} {r['name_en']}",
                      f"{int(r['people_gained']):,}")  # fmt: skip
        console.print(t)
        console.print(
            f"covered: {siting.covered_before:,} -> {siting.covered_after:,} of "
            f"{siting.population:,} people",
            highlight=False,
        )
    if output is not None:
        write_areas(areas, output)
        err.print(f"{len(areas):,} {level}s written to {output}", highlight=False)
    if map_file is not None:
        err.print(f"map written to {map_file}", highlight=False)


# --- an agency's points in bulk --------------------------------------------------------
@app.command("import")
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
    from sqlalchemy import text

    from locator.agencies.bulk import formats, importer
    from locator.progress import RichReporter

    if not file.is_file():
        raise LocatorError(f"no such file: {file}")
    table = formats.read_file(file.read_bytes(), formats.detect_format(file.name), file.name)
    engine = _engine()
    _require_schema(engine)
    with engine.begin() as conn:
        account_id = None
        if account is not None:
            found = conn.execute(
                text("SELECT id FROM account WHERE username = :u AND active"), {"u": account}
            ).scalar()
            if found is None:
                raise LocatorError(f"no active account {account!r} (locator accounts list)")
            account_id = int(found)
        with RichReporter(err) as reporter:
            report = importer.import_points(conn, get_settings(), agency, table,
                                        account_id=account_id, dry_run=dry_run,
                                        override=override, confirm_duplicates=confirm_duplicates,
                                        reporter=reporter)  # fmt: skip
    if not report.ok:
        shown = Table("row", "field", "problem",
                      title=f"{file.name}: {len(report.problems)} problems")  # fmt: skip
        for p in report.problems:
            shown.add_row(str(p.row), p.field, p.message)
        console.print(shown)
        console.print("nothing was written: fix the rows above and import again", highlight=False)
        raise typer.Exit(2)
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


@app.command("export")
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
    import datetime as dt

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
            from locator.registry.hours import BANGKOK

            after = after.replace(tzinfo=BANGKOK)  # as everywhere: no offset, Bangkok time
    engine = _engine()
    _require_schema(engine)
    with engine.connect() as conn:
        rows = export.export_rows(conn, agency, modified_after=after, include_closed=include_closed)
    output.write_bytes(formats.write_file(rows, fmt))
    err.print(f"{len(rows):,} points of {agency} written to {output}", highlight=False)


# --- accounts --------------------------------------------------------------------------
def _print_key(issued: Any, what: str) -> None:
    a = issued.account
    console.print(
        f"{what} {a.username} ({a.role}{', ' + a.agency_code if a.agency_code else ''}). "
        "Its API key, shown this once (keep it secret; only its hash is stored):",
        highlight=False,
    )
    print(issued.key)


@accounts_app.command("create")
@friendly
def accounts_create(
    username: Annotated[str, typer.Argument(help="One person's login, e.g. somchai.k@dopa.")],
    role: Annotated[str, typer.Option(help="editor, agency_admin or platform_admin.")] = "editor",
    agency: Annotated[
        str | None, typer.Option(help="The agency's code (none for a platform admin).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """A new account and its first API key (printed once)."""
    from locator.agencies import accounts

    engine = _engine()
    _require_schema(engine)
    with engine.begin() as conn:
        issued = accounts.create(conn, username, agency, role, name)
    _print_key(issued, "created")


@accounts_app.command("list")
@friendly
def accounts_list(
    agency: Annotated[str | None, typer.Option(help="Only this agency's accounts.")] = None,
) -> None:
    """Every account: agency, role, whether active, live keys, last use."""
    from locator.agencies import accounts

    engine = _engine()
    _require_schema(engine)
    with engine.connect() as conn:
        rows = accounts.list_accounts(conn, agency)
    table = Table("username", "agency", "role", "active", "live keys", "last used")
    for r in rows:
        last = r["last_used_at"].strftime("%Y-%m-%d %H:%M") if r["last_used_at"] else "never"
        table.add_row(r["username"], r["agency"] or "-", r["role"], "yes" if r["active"] else "no",
                      str(r["live_keys"]), last)  # fmt: skip
    console.print(table)


@accounts_app.command("revoke")
@friendly
def accounts_revoke(username: Annotated[str, typer.Argument()]) -> None:
    """The account and all its keys stop working at once (kept for the change log)."""
    from locator.agencies import accounts

    engine = _engine()
    _require_schema(engine)
    with engine.begin() as conn:
        account = accounts.revoke(conn, username)
    console.print(f"revoked {account.username} and its keys", highlight=False)


@accounts_app.command("rotate")
@friendly
def accounts_rotate(username: Annotated[str, typer.Argument()]) -> None:
    """A new API key for the account (printed once); its old keys stop working."""
    from locator.agencies import accounts

    engine = _engine()
    _require_schema(engine)
    with engine.begin() as conn:
        issued = accounts.rotate(conn, username)
    _print_key(issued, "rotated the key of")


def _require_schema(engine: Any) -> None:
    from locator.db import migrate as m

    with engine.connect() as conn:
        if m.current_revision(conn) is None:
            from locator.errors import DatabaseUnavailable

            raise DatabaseUnavailable("the database has no schema yet: run `locator migrate`")


# --- status / serve / demo -------------------------------------------------------------
@app.command()
@friendly
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Database location, migration revision, and what is loaded."""
    from locator.db.status import collect_status

    data = collect_status(_engine())
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


@app.command()
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

    with _engine().connect() as conn:
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


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from locator.db.engine import database_url
    from locator.secrets import client_hash_key

    settings = get_settings()
    client_hash_key(settings)  # a deployment without its key is told now, in one line
    database_url()  # start the embedded cluster before the workers need it
    # the app's own warnings (database down, busy, refused) beside uvicorn's
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["locator"] = {"handlers": ["default"], "level": "INFO"}
    host, port = host or settings.host, port or settings.port
    sock = _listen(host, port)
    _start_routing(settings)
    config = uvicorn.Config(
        "locator.api.app:create_app",
        log_config=log_config,
        factory=True,
        workers=workers,
        access_log=access_log,
        # X-Forwarded-* are believed only from LOCATOR_TRUSTED_PROXIES, by the app's own
        # guard; uvicorn's default would believe any local process
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    console.print(f"serving on {where} (docs at {where}/docs)", highlight=False)
    if workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()


def _start_routing(settings: Any) -> None:
    """The routing engines, on demand like the database, when a road network is
    imported; without one the API answers routes with labelled estimates."""
    from locator.travel.modes import PROFILES
    from locator.travel.osrm.engine import RoutingEngine
    from locator.travel.osrm.prepare import read_manifest

    if read_manifest(settings) is None:
        return
    engine = RoutingEngine(settings)
    for mode in PROFILES:
        if engine.start(mode):
            console.print(f"{mode} routing engine started on {engine.status(mode).url}")


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so that a taken port is one line, and "serving"
    is printed only once the port is ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is taken" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
        raise ConfigurationError(
            f"port {port} on {host} {reason}: choose another with --port or LOCATOR_PORT"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@app.command()
@friendly
def demo(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Set up, do not serve.")] = False,
) -> None:
    """Everything from nothing: database, schema, reference data, registry, then serve."""
    from locator.db.status import collect_status

    db_start_msg = "LOCATOR_DATABASE_URL" if get_settings().database_url else "embedded cluster"
    console.print(f"[bold]1/4[/] database ({db_start_msg})")
    migrate()
    engine = _engine()
    areas = collect_status(engine).get("areas", {})
    console.print("[bold]2/4[/] reference geodata")
    if areas.get("tambon", {}).get("count", 0) < 7000:
        load_reference_cmd()
    else:
        console.print("already loaded (run `locator load reference` to reload)")
    console.print("[bold]3/4[/] service catalogue and registry")
    if collect_status(engine)["tables"].get("service_point", 0) == 0:
        load_registry_cmd(seed=None, replace=False, scale=1.0)
    else:
        console.print("already loaded (run `locator load registry --replace` to rebuild)")
    status()
    if no_serve:
        return
    console.print("[bold]4/4[/] the API")
    serve(host=host, port=port, workers=1, access_log=True)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
