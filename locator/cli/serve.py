"""`locator serve` and `locator demo`: the HTTP API, and everything from nothing."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, friendly
from locator.cli.db import migrate
from locator.cli.load import load_reference_cmd, load_registry_cmd
from locator.cli.status import status
from locator.db.engine import database_url, make_engine
from locator.errors import ConfigurationError
from locator.logs import uvicorn_log_config
from locator.secrets import client_hash_key
from locator.settings import Settings, get_settings
from locator.travel.modes import PROFILES
from locator.travel.osrm.prepare import read_manifest


@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    # uvicorn and the routing engines' HTTP client take a tenth of a second and more:
    # imported by the commands that run them, not by `locator --help`
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings = get_settings()
    client_hash_key(settings)  # a deployment without its key is told now, in one line
    database_url()  # start the embedded cluster before the workers need it
    log_config = uvicorn_log_config(settings.log_format)
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
        # httptools with bounds on a request's head (bytes, URL, time), which uvicorn
        # lacks: named by its path, as the app is, so each worker process imports it
        http="locator.api.protocol:BoundedHttpToolsProtocol",
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if settings.log_format == "json":  # every line one JSON object, this one too
        logging.getLogger("locator.cli").info("serving on %s (docs at %s/docs)", where, where)
    else:
        console.print(f"serving on {where} (docs at {where}/docs)", highlight=False)
    metrics_dir = _metrics_dir(settings)  # once the port is ours: nothing left behind
    try:
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(settings: Settings) -> Path:
    """A fresh folder for the workers' metrics (prometheus_client's multiprocess mode),
    named in the environment the workers inherit. The folders of servers that are gone
    are removed here (several servers may share one state folder): a server cannot
    always remove its own, since uvicorn ends the process by raising SIGTERM again."""
    parent = settings.state_dir / "metrics"
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        pid = old.name.split("-", 1)[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # read by prometheus_client
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_routing(settings: Settings) -> None:
    """The routing engines, on demand like the database, when a road network is
    imported; without one the API answers routes with labelled estimates."""
    from locator.travel.osrm.engine import RoutingEngine

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


@friendly
def demo(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Set up, do not serve.")] = False,
) -> None:
    """Everything from nothing: database, schema, reference data, registry, then serve."""
    # the status pulls in the ORM models (most of a second): demo alone needs it here
    from locator.ops.status import collect_status

    db_start_msg = "LOCATOR_DATABASE_URL" if get_settings().database_url else "embedded cluster"
    console.print(f"[bold]1/4[/] database ({db_start_msg})")
    migrate()
    engine = make_engine()
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
