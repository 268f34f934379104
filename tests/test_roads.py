"""Importing a road network for OSRM, as a user runs it, on real OpenStreetMap extracts.

No database is needed for this part: the prepared data lives in the state folder, and
each test has a state folder of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from locator import osrm
from locator.settings import Settings, get_settings
from tests.conftest import LOCATOR

OSM = get_settings().osm_dir
MONACO = OSM / "monaco.osm.pbf"
LIECHTENSTEIN = OSM / "liechtenstein-2013-08-03.osm.pbf"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def run(args: list[str], state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCATOR_STATE_DIR": str(state)}
    return subprocess.run([LOCATOR, *args], env=env, capture_output=True, text=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def routed(state: Path) -> Iterator[Callable[[osrm.Mode], str]]:
    """Start osrm-routed on what an import prepared, for one mode; stopped afterwards."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(mode: osrm.Mode) -> str:
        settings = Settings(state_dir=state)
        port = _free_port()
        proc = subprocess.Popen(
            [str(osrm.program(settings, "osrm-routed")), "--algorithm", "mld",
             "-i", "127.0.0.1", "-p", str(port), str(osrm.network_file(settings, mode))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/nearest/v1/x/0,0", timeout=1)
                return base
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("osrm-routed did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_import_prepares_both_modes_and_they_route(
    state: Path, routed: Callable[[osrm.Mode], str]
) -> None:
    out = run(["roads", "import", str(MONACO)], state)
    assert out.returncode == 0, out.stderr
    assert "prepared monaco.osm.pbf" in out.stdout
    manifest = json.loads((state / "roads" / "osrm" / "manifest.json").read_text())
    assert manifest["source"] == str(MONACO.resolve())
    assert set(manifest["seconds"]) == {"drive", "walk"}
    # from the casino to the palace: the foot route is shorter than the car's (one-way
    # streets and the car profile's access rules), both are real roads, both arrive
    route = "route/v1/x/7.4246,43.7396;7.4206,43.7315?overview=false"
    drive = httpx.get(f"{routed('drive')}/{route}").json()
    walk = httpx.get(f"{routed('walk')}/{route}").json()
    assert drive["code"] == walk["code"] == "Ok"
    d, w = drive["routes"][0], walk["routes"][0]
    assert 900 < w["distance"] < 3000 and 900 < d["distance"] < 5000
    assert w["duration"] > d["duration"]  # walking is slower
    assert all(p["distance"] < 50 for p in drive["waypoints"])  # snapped to a road nearby
    status = run(["roads", "status"], state)
    assert "monaco.osm.pbf" in status.stdout and "drive, walk" in status.stdout


def test_importing_again_replaces_the_network(state: Path) -> None:
    assert run(["roads", "import", str(MONACO)], state).returncode == 0
    out = run(["roads", "import", str(LIECHTENSTEIN)], state)
    assert out.returncode == 0, out.stderr
    roads = state / "roads"
    assert sorted(p.name for p in roads.iterdir()) == ["osrm"]  # no leftovers
    manifest = json.loads((roads / "osrm" / "manifest.json").read_text())
    assert manifest["source"].endswith("liechtenstein-2013-08-03.osm.pbf")
    assert {p.name for p in (roads / "osrm").iterdir()} == {"drive", "walk", "manifest.json"}


def test_a_failed_import_keeps_the_previous_network(state: Path, tmp_path: Path) -> None:
    assert run(["roads", "import", str(MONACO)], state).returncode == 0
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"this is not a protocol buffer")
    out = run(["roads", "import", str(broken)], state)
    assert out.returncode == 2
    assert "osrm-extract failed" in out.stderr and "Traceback" not in out.stderr
    manifest = json.loads((state / "roads" / "osrm" / "manifest.json").read_text())
    assert manifest["source"].endswith("monaco.osm.pbf")
    assert sorted(p.name for p in (state / "roads").iterdir()) == ["osrm"]


@pytest.mark.parametrize(
    ("name", "says"),
    [("missing.osm.pbf", "no such file"), ("roads.geojson", "not an .osm.pbf file")],
)
def test_a_wrong_file_is_one_line(state: Path, tmp_path: Path, name: str, says: str) -> None:
    path = tmp_path / name
    if name.endswith(".geojson"):
        path.write_text("{}")
    out = run(["roads", "import", str(path)], state)
    assert out.returncode == 2
    assert says in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_status_without_a_network_says_how_to_import(state: Path) -> None:
    out = run(["roads", "status"], state)
    assert out.returncode == 0
    assert "locator roads import" in out.stdout


def test_a_missing_engine_names_the_install_step(state: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LOCATOR_STATE_DIR": str(state), "LOCATOR_OSRM_DIR": str(tmp_path)}
    out = subprocess.run(
        [LOCATOR, "roads", "import", str(MONACO)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "make venv" in out.stderr
