"""The OSRM routing engine: where its programs are, and preparing road data for it.

OSRM comes from the PyPI wheel ``osrm-bindings``, unpacked (``pip install --target``,
which ``make`` does) into ``.venv/osrm``: its ``osrm-extract``, ``osrm-partition``,
``osrm-customize`` and ``osrm-routed`` are self-contained programs, so they run here
even though the wheel's in-process bindings need a newer Python than Debian 12's. Its
own car and foot profiles decide what is routable (one-way streets, turn restrictions,
access tags, road speeds): this project writes no routing profile of its own.

Data is prepared for the MLD algorithm (extract, partition, customize), one folder per
travel mode, under ``<state_dir>/roads/osrm``. A new import is built beside the current
one and swapped in only when every mode has succeeded, so a failed or interrupted
import leaves the previous network in service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from locator.errors import ConfigurationError, InvalidInput
from locator.progress import NullReporter, Reporter
from locator.settings import Settings
from locator.travel.modes import PROFILES, Mode

NETWORK = "network"
"""The base name of every prepared file (``network.osrm.*``) in a mode's folder."""
MANIFEST = "manifest.json"
STEPS = ("osrm-extract", "osrm-partition", "osrm-customize")


def engine_dir(settings: Settings) -> Path:
    """The unpacked wheel: ``settings.osrm_dir``, or ``osrm`` inside this environment."""
    return settings.osrm_dir or Path(sys.prefix) / "osrm"


def program(settings: Settings, name: str) -> Path:
    """One of OSRM's programs; a clear error naming the install step when it is missing."""
    path = engine_dir(settings) / "osrm" / "bin" / name
    if not os.access(path, os.X_OK):
        raise ConfigurationError(
            f"the OSRM routing engine is not installed ({path} is missing); `make venv` "
            "installs it (pip install --target .venv/osrm --python-version 3.12 "
            "--only-binary=:all: --no-deps osrm-bindings), or set LOCATOR_OSRM_DIR",
            action="install_osrm",
        )
    return path


def profile(settings: Settings, mode: Mode) -> Path:
    return engine_dir(settings) / "osrm" / "share" / "profiles" / f"{PROFILES[mode]}.lua"


def roads_dir(settings: Settings) -> Path:
    return settings.state_dir / "roads" / "osrm"


def network_file(settings: Settings, mode: Mode) -> Path:
    """What ``osrm-routed`` is given for ``mode`` (the prepared files' common stem)."""
    return roads_dir(settings) / mode / f"{NETWORK}.osrm"


@dataclass
class Prepared:
    """What an import made: written as the manifest beside the data."""

    source: str
    source_bytes: int
    source_sha256: str
    osrm_version: str
    imported_at: str
    seconds: dict[str, float] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)


def read_manifest(settings: Settings) -> Prepared | None:
    path = roads_dir(settings) / MANIFEST
    if not path.exists():
        return None
    return Prepared(**json.loads(path.read_text()))


def version(settings: Settings) -> str:
    out = subprocess.run(
        [str(program(settings, "osrm-routed")), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return out.stdout.strip() or out.stderr.strip()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_source(pbf: Path) -> Path:
    pbf = pbf.expanduser().resolve()
    if not pbf.is_file():
        raise InvalidInput(f"{pbf}: no such file; give an OpenStreetMap .osm.pbf extract")
    if not pbf.name.endswith(".osm.pbf"):
        raise InvalidInput(f"{pbf.name}: not an .osm.pbf file; give an OpenStreetMap extract")
    return pbf


def _run(settings: Settings, step: str, args: list[str], log: Path) -> None:
    """One OSRM program, its output kept in ``log``; a failure names the step and the
    last lines it printed."""
    command = [str(program(settings, step)), *args]
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise InvalidInput(
            f"{step} failed (exit {result.returncode}); its last lines: {tail} "
            f"(the whole log: {log})"
        )


def prepare(pbf: Path, settings: Settings, reporter: Reporter | None = None) -> Prepared:
    """Prepare ``pbf`` for OSRM in every mode, then swap it in for the current network."""
    reporter = reporter or NullReporter()
    source = _check_source(pbf)
    threads = str(max(1, min(os.cpu_count() or 1, 4)))
    target = roads_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.parent / f".building-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    try:
        reporter.stage(f"checking {source.name}", total=None)
        made = Prepared(
            source=str(source),
            source_bytes=source.stat().st_size,
            source_sha256=_sha256(source),
            osrm_version=version(settings),
            imported_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        )
        for mode in PROFILES:
            folder = building / mode
            folder.mkdir()
            # osrm-extract writes beside its input, and the source may be read-only
            (folder / f"{NETWORK}.osm.pbf").symlink_to(source)
            stem = str(folder / f"{NETWORK}.osrm")
            log = folder / "prepare.log"
            started = time.perf_counter()
            reporter.stage(f"{mode}: extract, partition, customize", total=len(STEPS))
            _run(
                settings,
                "osrm-extract",
                [
                    "-p",
                    str(profile(settings, mode)),
                    "-t",
                    threads,
                    str(folder / f"{NETWORK}.osm.pbf"),
                ],
                log,
            )
            reporter.advance()
            _run(settings, "osrm-partition", ["-t", threads, stem], log)
            reporter.advance()
            _run(settings, "osrm-customize", ["-t", threads, stem], log)
            reporter.advance()
            (folder / f"{NETWORK}.osm.pbf").unlink()
            made.seconds[mode] = round(time.perf_counter() - started, 2)
            made.bytes[mode] = sum(f.stat().st_size for f in folder.iterdir())
        (building / MANIFEST).write_text(json.dumps(asdict(made), indent=2))
        _swap_in(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return made


def _swap_in(building: Path, target: Path) -> None:
    """The new folder takes the current one's name; the old one is removed after."""
    old = target.parent / f".old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        target.rename(old)
    building.rename(target)
    shutil.rmtree(old, ignore_errors=True)
