"""The local routing engine: one ``osrm-routed`` per travel mode, managed like the
embedded database (started on demand, a second start is a no-op, a stale pid file is
recognised, stopped cleanly).

Each listens on loopback only, on ``settings.osrm_port`` (drive) and the port after it
(walk), over the data ``locator roads import`` prepared. Its pid file and log are in
``<state_dir>/run`` and ``<state_dir>/roads``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from locator.errors import ConfigurationError
from locator.settings import Settings
from locator.travel.modes import PROFILES, Mode
from locator.travel.osrm import prepare

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class EngineStatus:
    mode: Mode
    port: int
    running: bool
    pid: int | None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


class RoutingEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def port(self, mode: Mode) -> int:
        return self.settings.osrm_port + list(PROFILES).index(mode)

    def _pid_file(self, mode: Mode) -> Path:
        return self.settings.state_dir / "run" / f"osrm-{mode}.pid"

    def _log(self, mode: Mode) -> Path:
        return self.settings.state_dir / "roads" / f"osrm-routed-{mode}.log"

    def _pid(self, mode: Mode) -> int | None:
        """The pid in the pid file when that process is alive and is osrm-routed."""
        try:
            pid = int(self._pid_file(mode).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"osrm-routed" in cmdline else None

    def _answers(self, mode: Mode) -> bool:
        try:
            # any HTTP answer means it is serving (a bad request is a 400)
            httpx.get(f"http://{HOST}:{self.port(mode)}/nearest/v1/x/0,0", timeout=1.0)
        except httpx.HTTPError:
            return False
        return True

    def status(self, mode: Mode) -> EngineStatus:
        pid = self._pid(mode)
        return EngineStatus(mode, self.port(mode), pid is not None and self._answers(mode), pid)

    def start(self, mode: Mode) -> bool:
        """Start ``mode``'s engine unless it runs; True when this call started it."""
        if self.status(mode).running:
            return False
        self.stop(mode)  # a process that holds the pid file but does not answer
        network = prepare.network_file(self.settings, mode)
        if not (network.parent / f"{prepare.NETWORK}.osrm.mldgr").exists():
            raise ConfigurationError(
                f"no road network is imported for {mode}: run "
                "`locator roads import FILE.osm.pbf` first",
                action="import_roads",
            )
        pid_file, log = self._pid_file(mode), self._log(mode)
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(prepare.program(self.settings, "osrm-routed")),
            "--algorithm", "mld",
            "--ip", HOST,
            "--port", str(self.port(mode)),
            "--threads", "2",
            "--max-table-size", "1000",
            str(network),
        ]  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if self._answers(mode):
                return True
            time.sleep(0.1)
        self.stop(mode)
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise ConfigurationError(
            f"the {mode} routing engine did not start on {HOST}:{self.port(mode)}: {tail} "
            f"(the whole log: {log}; another program may hold the port: set LOCATOR_OSRM_PORT)"
        )

    def stop(self, mode: Mode) -> bool:
        """Stop ``mode``'s engine if it runs; True when this call stopped it."""
        pid = self._pid(mode)
        self._pid_file(mode).unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True

    def restart_running(self) -> list[Mode]:
        """After an import: the engines that were running serve the new network."""
        running = [mode for mode in PROFILES if self.status(mode).running]
        for mode in running:
            self.stop(mode)
            self.start(mode)
        return running


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
