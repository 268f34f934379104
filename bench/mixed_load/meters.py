"""Where the CPU went: the client, the server, PostgreSQL, and everyone else."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.common import CpuMeter


def _grown(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks used between two per-process samples (a process that exited takes its own)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())


def _machine_busy_ticks() -> int:
    """Busy CPU ticks of the whole machine, all cores (``/proc/stat``)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal


async def others_per_second(meter: Meter, out: list[tuple[float, float]]) -> None:
    """Every second: (time, core-seconds the machine was busy with anything but the
    client, the server and our PostgreSQL backends), to tell a dip of the server from a
    neighbour's burst on this shared box."""
    loop = asyncio.get_running_loop()
    last = (_machine_busy_ticks(), meter.watched(), time.process_time())
    while True:
        await asyncio.sleep(1)
        now = (_machine_busy_ticks(), meter.watched(), time.process_time())
        ours = sum(t - last[1][pid] for pid, t in now[1].items() if pid in last[1])
        hz = meter.cpu.hz
        out.append((loop.time(), max(0.0, (now[0] - last[0] - ours) / hz - (now[2] - last[2]))))
        last = now


class Meter:
    """CPU seconds per phase: the load generator, the server's processes, PostgreSQL's
    backends serving the scratch database, all of PostgreSQL, and the whole machine.

    This box may be shared (another engineer's test run): ``others_s``, the machine's
    busy time that is none of ours, says how much a phase's figures were disturbed.
    """

    def __init__(self, server_pid: int, database: str) -> None:
        self.cpu = CpuMeter(server_pid)
        self.database = database
        self.ours: dict[int, bool] = {}
        self.last = self._sample()

    def _is_ours(self, pid: int) -> bool:
        if pid not in self.ours:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                return False
            self.ours[pid] = f" {self.database} " in cmdline
        return self.ours[pid]

    def _sample(self) -> tuple[float, dict[int, int], dict[int, int], dict[int, int], int]:
        api, pg = self.cpu.sample()
        ours = {pid: ticks for pid, ticks in pg.items() if self._is_ours(pid)}
        return time.process_time(), api, pg, ours, _machine_busy_ticks()

    def watched(self) -> dict[int, int]:
        """CPU ticks of the server's processes and our PostgreSQL backends, as last seen
        by a full sample (a cheap read of a few files, for the per-second figure)."""
        out = {}
        for pid in (*self.last[1], *self.last[3]):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = int(fields[11]) + int(fields[12])
        return out

    def lap(self) -> dict[str, float]:
        now, last, hz = self._sample(), self.last, self.cpu.hz
        self.last = now
        used = {
            "client_s": now[0] - last[0],
            "server_s": _grown(last[1], now[1]) / hz,
            "postgres_ours_s": _grown(last[3], now[3]) / hz,
            "postgres_all_s": _grown(last[2], now[2]) / hz,
            "machine_busy_s": (now[4] - last[4]) / hz,
        }
        used["others_s"] = max(
            0.0,
            used["machine_busy_s"] - used["client_s"] - used["server_s"] - used["postgres_all_s"],
        )
        used["others_s"] += used["postgres_all_s"] - used["postgres_ours_s"]
        return used
