"""`locator db ...` and `locator migrate`: the embedded cluster, its replicas, its dumps, the
schema."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, err, friendly
from locator.db.cluster import LocalCluster, ReplicaCluster
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


# --- read replicas ------------------------------------------------------------------------
replica_app = typer.Typer(
    help="Read replicas of the database on this machine (streaming replication), for "
    "LOCATOR_READ_DATABASE_URLS.",
    no_args_is_help=True,
)
db_app.add_typer(replica_app, name="replica")

ReplicaPort = Annotated[
    int,
    typer.Option("--port", min=1024, max=65535, help="The replica's port (its socket's number)."),
]


def _replica(port: int) -> ReplicaCluster:
    """The replica on ``port`` of the database every command uses (the embedded cluster,
    started if needed, or LOCATOR_DATABASE_URL's server)."""
    return ReplicaCluster(get_settings(), port, database_url())


@replica_app.command("create")
@friendly
def replica_create(port: ReplicaPort) -> None:
    """Copy the primary (pg_basebackup: every database of its cluster) into
    <state>/replica-PORT/ and start it following the primary."""
    replica = _replica(port)
    started = time.monotonic()
    replica.create()
    console.print(
        f"replica on port {port} created in {time.monotonic() - started:.1f} s and "
        f"following the primary\nreader url: {replica.reader_url()}",
        highlight=False,
    )


@replica_app.command("start")
@friendly
def replica_start(port: ReplicaPort) -> None:
    """Start a replica (a no-op when it runs); it catches up from where it stopped."""
    replica = _replica(port)
    console.print(f"replica {port} {'started' if replica.start() else 'already running'}")


@replica_app.command("stop")
@friendly
def replica_stop(port: ReplicaPort) -> None:
    """Stop a replica; the API's reads fall back to the primary or the other replicas."""
    replica = _replica(port)
    console.print(f"replica {port} {'stopped' if replica.stop() else 'was not running'}")


@replica_app.command("remove")
@friendly
def replica_remove(port: ReplicaPort) -> None:
    """Stop a replica, drop its replication slot on the primary, delete its files."""
    _replica(port).remove()
    console.print(f"replica {port} removed")


@replica_app.command("status")
@friendly
def replica_status(
    port: Annotated[
        int | None, typer.Option("--port", help="One replica (default: every one).")
    ] = None,
) -> None:
    """Each replica: running, how far behind the primary, the URL the API reads it by."""
    settings = get_settings()
    primary = database_url(settings)
    replicas = (
        [ReplicaCluster(settings, port, primary)]
        if port is not None
        else ReplicaCluster.all(settings, primary)
    )
    if not replicas:
        console.print("no replicas (`locator db replica create --port PORT`)")
        raise typer.Exit(3)
    all_running = True
    for replica in replicas:
        status = replica.replica_status()
        all_running &= status.running
        behind = "-" if status.behind_bytes is None else f"{status.behind_bytes:,} bytes"
        console.print(
            f"replica {status.port}: {'running' if status.running else 'stopped'} "
            f"(pid {status.pid or '-'}), behind the primary: {behind}\n"
            f"  data: {status.data_dir}\n  reader url: {status.reader_url}",
            highlight=False,
        )
    raise typer.Exit(0 if all_running else 3)
