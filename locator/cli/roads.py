"""`locator roads ...`: the road network the routing engines (OSRM) and travel times use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, friendly, migrated_engine
from locator.progress import RichReporter
from locator.settings import get_settings
from locator.travel.modes import PROFILES
from locator.travel.osrm.prepare import prepare, read_manifest, roads_dir

roads_app = typer.Typer(help="Road networks for routing (OSRM).", no_args_is_help=True)

# the road graph's import pulls in pandas and the ORM (about a second), the routing
# engines an HTTP client (a tenth of a second): each command imports what it uses when
# it runs, so that `locator --help` does not wait for them


@roads_app.command("import")
@friendly
def roads_import(
    file: Annotated[Path, typer.Argument(help="An OpenStreetMap extract (.osm.pbf).")],
) -> None:
    """Prepare FILE for OSRM (car and foot profiles, MLD); replaces the current network."""
    from locator.travel import roads
    from locator.travel.osrm.engine import RoutingEngine

    settings = get_settings()
    engine = migrated_engine()
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
    from locator.travel.osrm.engine import RoutingEngine

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
    from locator.travel.osrm.engine import RoutingEngine

    engine = RoutingEngine(get_settings())
    for mode in PROFILES:
        stopped = engine.stop(mode)
        console.print(f"{mode} engine {'stopped' if stopped else 'was not running'}")
