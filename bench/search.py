"""Name search under adversarial and everyday queries, against the code before issue 8.

Run by hand:  .venv/bin/python -m bench.search [--repeat 20] [--baseline 0d1feef]

Issue 8 found that a search for ``%``, ``_``, ``\\``, an emoji or punctuation ran as a
full scan (0.9 s each), and that eight of them in a row pushed nearest from 3 ms to
2 s. This measures, from one client on an otherwise idle server, every query of a fixed
list (punctuation, single characters, emoji, 100-character random strings, Thai
fragments, the commonest words, everyday place names; Thai and English) ``--repeat``
times, then nearest-10 right after bursts of eight adversarial searches. It does so
for this tree and for the baseline commit (checked out with ``git worktree`` into
bench/output/, served from there), alternating the two servers query by query so both
meet the same machine. Both serve the demo database (reads only; ``locator demo``
loads it). Figures: p50 and p99 per category and overall, and the ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench.common import bench_env
from locator.db.engine import database_url
from tests.support.ports import free_port
from tests.support.servers import running

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "bench" / "output"

random.seed(8)
QUERIES: dict[str, list[str]] = {
    "punctuation": ["%", "_", "\\", "%%%", "'", '"', "()", "...", "-", "%_%"],
    "single character": ["a", "B", "ก", "1", "x"],
    "emoji": ["😀", "🏥", "🚓🚓", "👍🏽"],
    "random 100 characters": [
        "".join(random.choice(string.ascii_letters + string.digits + " ") for _ in range(100))
        for _ in range(4)
    ]
    + ["".join(chr(random.randint(0x0E01, 0x0E2E)) for _ in range(100)) for _ in range(2)],
    "Thai fragment": ["บาง", "เมือง", "หนอง", "ตำบล", "อำเภอ", "สถานี", "ที่ว่า"],
    "commonest words": ["office", "โรงพยาบาล", "Bang", "Subdistrict", "Ban", "Hospital"],
    "everyday": [
        "Chiang Mai",
        "Bang Rak",
        "Khon Kaen",
        "Hat Yai",
        "district office",
        "land office",
        "police station",
        "passport",
        "เชียงใหม่",
        "บางรัก",
        "ขอนแก่น",
        "สำนักงานที่ดิน",
        "Chaing Mai",
        "Khon Kean",
    ],
}
ADVERSARIAL = ["%", "_", "\\", "😀", "...", "%_%", "'", "()"]
NEAREST = "/v1/points/nearest?lat=13.75&lon=100.5&k=10"


@contextmanager
def serve(tree: Path, url: str) -> Iterator[str]:
    """The API served from ``tree`` (its own package first on the path; the baseline may
    predate ``/readyz`` and ``locator serve``'s options, hence uvicorn and ``/healthz``)."""
    port = free_port()
    code = (
        "import sys, uvicorn, locator; assert locator.__file__.startswith(sys.argv[1]); "
        "uvicorn.run('locator.api.app:create_app', factory=True, host='127.0.0.1', "
        "port=int(sys.argv[2]), access_log=False, log_level='warning')"
    )
    command = [sys.executable, "-c", code, str(tree), str(port)]
    env = bench_env(url, PYTHONPATH=str(tree))
    with running(command, port, env, ready_path="/healthz", cwd=tree) as server:
        yield server.url


def worktree(ref: str) -> Path:
    path = OUTPUT / f"baseline-{ref}"
    if not path.exists():
        OUTPUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, check=True)
    return path


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def time_get(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - started
    if response.status_code >= 500:
        print(f"  {response.status_code} for {path} {params}: {response.text[:200]}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="times each query is sent")
    parser.add_argument("--baseline", default="0d1feef", help="commit to compare with")
    args = parser.parse_args()

    url = database_url()
    trees = {"this tree": ROOT, f"baseline {args.baseline}": worktree(args.baseline)}
    times: dict[str, dict[str, list[float]]] = {t: {c: [] for c in QUERIES} for t in trees}
    after_burst: dict[str, list[float]] = {t: [] for t in trees}
    idle_nearest: dict[str, list[float]] = {t: [] for t in trees}
    statuses: dict[str, dict[int, int]] = {t: {} for t in trees}
    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(httpx.Client(base_url=stack.enter_context(serve(tree, url)),
                                                   timeout=60))
            for name, tree in trees.items()
        }  # fmt: skip
        for client in clients.values():  # warm both: first connections, prepared plans
            for category in QUERIES.values():
                for q in category:
                    client.get("/v1/points/search", params={"q": q})
        for _ in range(args.repeat):
            for category, queries in QUERIES.items():
                for q in queries:
                    for name, client in clients.items():
                        started = time.perf_counter()
                        response = client.get("/v1/points/search", params={"q": q})
                        times[name][category].append((time.perf_counter() - started) * 1000)
                        code = response.status_code
                        statuses[name][code] = statuses[name].get(code, 0) + 1
            for name, client in clients.items():
                idle_nearest[name].append(time_get(client, NEAREST))
                for q in ADVERSARIAL:  # eight in a row, then a citizen's nearest
                    client.get("/v1/points/search", params={"q": q})
                after_burst[name].append(time_get(client, NEAREST))

    print(f"\nName search, one client, idle server; {args.repeat} rounds; milliseconds")
    names = list(trees)
    print(f"{'category':24}" + "".join(f"{n + ' p50':>26}{'p99':>9}" for n in names))
    for category in QUERIES:
        row = f"{category:24}"
        for name in names:
            values = times[name][category]
            row += f"{statistics.median(values):26.1f}{p99(values):9.1f}"
        print(row)
    row = f"{'all queries':24}"
    overall = {n: [v for c in QUERIES for v in times[n][c]] for n in names}
    for name in names:
        row += f"{statistics.median(overall[name]):26.1f}{p99(overall[name]):9.1f}"
    print(row)
    ours, base = names
    print(
        f"\nsearch p99, all queries: {p99(overall[ours]):.1f} ms here vs "
        f"{p99(overall[base]):.1f} ms baseline ({p99(overall[base]) / p99(overall[ours]):.0f}x); "
        "target <= 50 ms"
    )
    for name in names:
        print(
            f"nearest-10 ({name}): idle p50 {statistics.median(idle_nearest[name]):.1f} ms; "
            f"right after 8 adversarial searches p50 {statistics.median(after_burst[name]):.1f}"
            f" / max {max(after_burst[name]):.1f} ms"
        )
        print(f"  statuses of the searches ({name}): {dict(sorted(statuses[name].items()))}")


if __name__ == "__main__":
    main()
