"""The command line, `locator --help`: one door, beside the HTTP API.

Each module holds one group of commands and only translates: options in, a domain
function called, its answer printed (``common`` holds the consoles and the one-line
errors). It may import every package below the doors (analysis, agencies, maps, ogc,
travel, query, registry, ingest, db) but not ``locator.api``. The commands are
registered here, in the order ``locator --help`` lists them.
"""

from __future__ import annotations

import typer

from locator.cli import (
    accounts,
    bulk,
    coverage,
    db,
    hours,
    load,
    map,
    proxy,
    roads,
    serve,
    status,
)

app = typer.Typer(help="Thai government service-point locator.", no_args_is_help=True)
app.add_typer(db.db_app, name="db")
app.add_typer(load.load_app, name="load")
app.add_typer(roads.roads_app, name="roads")
app.add_typer(map.map_app, name="map")
app.add_typer(hours.hours_app, name="hours")
app.add_typer(accounts.accounts_app, name="accounts")
app.command()(db.migrate)
app.command()(load.qa)
app.command()(coverage.coverage)
app.command("import")(bulk.import_cmd)
app.command("export")(bulk.export_cmd)
app.command()(status.status)
app.command()(status.progress)
app.command()(serve.serve)
app.command()(serve.demo)
app.command("proxy-config")(proxy.proxy_config)
