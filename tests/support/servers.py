"""HTTP servers in subprocesses on loopback: started, waited for until ready, stopped.

One way to run a server for the tests that need a real one (GDAL, a browser, a restart
under traffic) and for the benchmarks: ``serving`` runs ``locator serve``, ``running``
any other server (tipg, or another tree's code) the same way, ``proxying`` nginx in front
of one as ``locator proxy-config`` renders it.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.support.cli import LOCATOR
from tests.support.ports import free_port

HOST = "127.0.0.1"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOG_TAIL = 20_000  # characters of a server's log shown when it fails to start


@dataclass(frozen=True)
class Server:
    """A server that answered its readiness check."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60, path: str = "/readyz"
) -> None:
    """Until ``url + path`` answers 200; RuntimeError if the process exits first,
    TimeoutError if it takes longer than ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url}{path} did not answer 200 within {timeout_s:g} s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """SIGTERM, and SIGKILL if it is not gone within ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def _tail(out: IO[bytes], log: Path | None) -> str:
    if log is None:
        out.seek(0)
        text = out.read().decode(errors="replace")
    else:
        out.flush()
        text = log.read_text(errors="replace")
    return f"server log ({log or 'temporary'}):\n{text[-LOG_TAIL:]}"


@contextmanager
def running(
    command: Sequence[str],
    port: int,
    env: Mapping[str, str],
    *,
    log: Path | None = None,
    ready_path: str = "/readyz",
    timeout_s: float = 60,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """``command`` (a server listening on loopback ``port``) until the block ends.

    Its output goes to ``log``, or to a temporary file; if it exits or is not ready within
    ``timeout_s``, the RuntimeError carries the end of that output."""
    with ExitStack() as stack:
        if log is None:
            out: IO[bytes] = stack.enter_context(tempfile.TemporaryFile())
        else:
            out = stack.enter_context(log.open("wb"))
        proc = subprocess.Popen(
            list(command), env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        )
        try:
            server = Server(proc, port)
            try:
                wait_ready(server.url, proc, timeout_s, ready_path)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}; {_tail(out, log)}") from None
            yield server
        finally:
            stop(proc)


@contextmanager
def serving(
    env: Mapping[str, str],
    *,
    workers: int | None = None,
    log: Path | None = None,
    timeout_s: float = 60,
) -> Iterator[Server]:
    """``locator serve`` on a free loopback port with ``env``, without an access log."""
    port = free_port()
    command = [LOCATOR, "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
    if workers is not None:
        command[-1:-1] = ["--workers", str(workers)]
    with running(command, port, env, log=log, timeout_s=timeout_s) as server:
        yield server


@contextmanager
def proxying(
    upstream_port: int,
    prefix: Path,
    env: Mapping[str, str],
    *,
    proxy_bind: str | None = None,
    timeout_s: float = 60,
) -> Iterator[tuple[Server, str]]:
    """nginx (Debian's package) on a free loopback port in front of the server on
    ``upstream_port``, configured by ``locator proxy-config --plain-http`` with ``env``'s
    settings (its timeouts and limits are the app's): run as the current user, with its
    pid, logs, temporary files and cache in ``prefix``. Yields the proxy and what the
    command said (the settings the API machines need)."""
    port = free_port()
    conf = prefix / "nginx.conf"
    render = [
        LOCATOR, "proxy-config",
        "--plain-http", f"{HOST}:{port}",
        "--upstream", f"{HOST}:{upstream_port}",
        "--prefix", str(prefix),
        "--user", getpass.getuser(),
        "--output", str(conf),
    ]  # fmt: skip
    if proxy_bind:
        render += ["--proxy-bind", proxy_bind]
    out = subprocess.run(render, env=dict(env), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"locator proxy-config failed: {out.stderr}")
    command = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    with running(
        [*command, "-g", "daemon off;"], port, env, ready_path="/healthz", timeout_s=timeout_s
    ) as proxy:
        yield proxy, out.stdout
