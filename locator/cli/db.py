"""`locator db ...` and `locator migrate`: the embedded cluster, its dumps, the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, err, friendly
from locator.db.cluster import LocalCluster
from locator.db.engine import database_url, make_engine
from locator.progress import RichReporter
from locator.settings import get_settings

db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster.", no_args_is_help=True)


def _cluster() -> LocalCluster:
    settings = get_settings()
    if settings.database_url:
        err.print("LOCATOR_DATABASE_URL is set: the embedded cluster is not used.")
        raise typer.Exit(2)
    return LocalCluster(settings)


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
    print(database_url())


@db_app.command("dump")
@friendly
def db_dump(
    file: Annotated[Path, typer.Argument(help="The dump to write (pg_dump custom format).")],
) -> None:
    """Dump the database to FILE, with FILE.manifest.json: rows and checksums per table."""
    # backups and migrations pull in the ORM models and Alembic (about a second):
    # imported by the commands that use them, not by `locator --help`
    from locator.ops.backup import dump

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
    from locator.ops.backup import restore

    with RichReporter(console) as reporter:
        result = restore(get_settings(), file, replace=replace, reporter=reporter)
    console.print("\n".join(result.summary()), highlight=False)


@friendly
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    downgrade: Annotated[bool, typer.Option(help="Downgrade to the revision instead.")] = False,
) -> None:
    """Apply the schema migrations (Alembic)."""
    from locator.db import migrate as m

    engine = make_engine()
    if downgrade:
        m.downgrade(engine, revision)
    else:
        m.upgrade(engine, revision)
    with engine.connect() as conn:
        console.print(f"schema at revision {m.current_revision(conn) or 'base'}")
