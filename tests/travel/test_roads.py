"""Importing a road network, as a user runs it, on real OpenStreetMap extracts: OSRM's
data in a state folder of each test's own, the graph in the session's database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from sqlalchemy import Engine, text

from tests.support.cli import LOCATOR
from tests.support.places import LIECHTENSTEIN, MONACO
from tests.support.ports import free_port, free_port_pair


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def engine_env(state: Path, cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment of a user whose engines listen on free ports, over the session's
    database (where the graph goes); the engines are stopped after."""
    port = free_port_pair()
    env = {**cli_env, "LOCATOR_STATE_DIR": str(state), "LOCATOR_OSRM_PORT": str(port)}
    yield env
    subprocess.run([LOCATOR, "roads", "stop"], env=env, capture_output=True, timeout=60)


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LOCATOR, *args], env=env, capture_output=True, text=True, timeout=300)


def _urls(env: dict[str, str]) -> dict[str, str]:
    port = int(env["LOCATOR_OSRM_PORT"])
    return {"drive": f"http://127.0.0.1:{port}", "walk": f"http://127.0.0.1:{port + 1}"}


def test_import_prepares_both_modes_and_they_route(state: Path, engine_env: dict[str, str]) -> None:
    out = cli(["roads", "import", str(MONACO)], engine_env)
    assert out.returncode == 0, out.stderr
    assert "prepared monaco.osm.pbf" in out.stdout
    manifest = json.loads((state / "roads" / "osrm" / "manifest.json").read_text())
    assert manifest["source"] == str(MONACO.resolve())
    assert set(manifest["seconds"]) == {"drive", "walk"}
    # from the casino to the palace: the foot route is shorter than the car's (one-way
    # streets and the car profile's access rules), both are real roads, both arrive
    route = "route/v1/x/7.4246,43.7396;7.4206,43.7315?overview=false"
    started = cli(["roads", "start"], engine_env)
    assert started.returncode == 0, started.stderr
    assert "drive engine started" in started.stdout
    urls = _urls(engine_env)
    drive = httpx.get(f"{urls['drive']}/{route}").json()
    walk = httpx.get(f"{urls['walk']}/{route}").json()
    assert drive["code"] == walk["code"] == "Ok"
    d, w = drive["routes"][0], walk["routes"][0]
    assert 900 < w["distance"] < 3000 and 900 < d["distance"] < 5000
    assert w["duration"] > d["duration"]  # walking is slower
    assert all(p["distance"] < 50 for p in drive["waypoints"])  # snapped to a road nearby
    status = cli(["roads", "status"], engine_env)
    assert "monaco.osm.pbf" in status.stdout and "drive, walk" in status.stdout
    assert f"drive engine: running on {urls['drive']}" in status.stdout


def test_the_engine_is_managed_like_the_database(state: Path, engine_env: dict[str, str]) -> None:
    not_yet = cli(["roads", "start"], engine_env)
    assert not_yet.returncode == 2 and "locator roads import" in not_yet.stderr
    assert cli(["roads", "import", str(MONACO)], engine_env).returncode == 0
    assert cli(["roads", "start"], engine_env).returncode == 0
    again = cli(["roads", "start"], engine_env)
    assert "already running" in again.stdout
    pid = int((state / "run" / "osrm-drive.pid").read_text())
    # a new import swaps the network under running engines, and restarts them on it
    out = cli(["roads", "import", str(LIECHTENSTEIN)], engine_env)
    assert "restarted the running engines" in out.stdout, out.stdout + out.stderr
    assert int((state / "run" / "osrm-drive.pid").read_text()) != pid
    vaduz = "route/v1/x/9.5209,47.1410;9.5100,47.1600?overview=false"
    assert httpx.get(f"{_urls(engine_env)['drive']}/{vaduz}").json()["code"] == "Ok"
    stopped = cli(["roads", "stop"], engine_env)
    assert "drive engine stopped" in stopped.stdout
    assert "stopped" in cli(["roads", "status"], engine_env).stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(_urls(engine_env)["drive"], timeout=1)
    # a pid file left by a crash names a process that is gone: start is not fooled
    (state / "run" / "osrm-drive.pid").write_text("999999")
    assert "drive engine started" in cli(["roads", "start"], engine_env).stdout


def test_importing_again_replaces_the_network(state: Path, engine_env: dict[str, str]) -> None:
    assert cli(["roads", "import", str(MONACO)], engine_env).returncode == 0
    out = cli(["roads", "import", str(LIECHTENSTEIN)], engine_env)
    assert out.returncode == 0, out.stderr
    roads = state / "roads"
    assert sorted(p.name for p in roads.iterdir()) == ["osrm"]  # no leftovers
    manifest = json.loads((roads / "osrm" / "manifest.json").read_text())
    assert manifest["source"].endswith("liechtenstein-2013-08-03.osm.pbf")
    assert {p.name for p in (roads / "osrm").iterdir()} == {"drive", "walk", "manifest.json"}


def test_a_failed_import_keeps_the_previous_network(
    state: Path, tmp_path: Path, engine_env: dict[str, str]
) -> None:
    assert cli(["roads", "import", str(MONACO)], engine_env).returncode == 0
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"this is not a protocol buffer")
    out = cli(["roads", "import", str(broken)], engine_env)
    assert out.returncode == 2
    assert "osrm-extract failed" in out.stderr and "Traceback" not in out.stderr
    manifest = json.loads((state / "roads" / "osrm" / "manifest.json").read_text())
    assert manifest["source"].endswith("monaco.osm.pbf")
    assert sorted(p.name for p in (state / "roads").iterdir()) == ["osrm"]


@pytest.mark.parametrize(
    ("name", "says"),
    [("missing.osm.pbf", "no such file"), ("roads.geojson", "not an .osm.pbf file")],
)
def test_a_wrong_file_is_one_line(
    engine_env: dict[str, str], tmp_path: Path, name: str, says: str
) -> None:
    path = tmp_path / name
    if name.endswith(".geojson"):
        path.write_text("{}")
    out = cli(["roads", "import", str(path)], engine_env)
    assert out.returncode == 2
    assert says in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_status_without_a_network_says_how_to_import(engine_env: dict[str, str]) -> None:
    out = cli(["roads", "status"], engine_env)
    assert out.returncode == 0
    assert "locator roads import" in out.stdout


def test_a_missing_engine_names_the_install_step(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**engine_env, "LOCATOR_OSRM_DIR": str(tmp_path)}
    out = subprocess.run(
        [LOCATOR, "roads", "import", str(MONACO)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "make venv" in out.stderr


def test_serve_starts_the_engines_when_a_network_is_imported(
    state: Path, engine_env: dict[str, str], cli_env: dict[str, str]
) -> None:
    assert cli(["roads", "import", str(MONACO)], engine_env).returncode == 0
    env = {**cli_env, **{k: engine_env[k] for k in ("LOCATOR_STATE_DIR", "LOCATOR_OSRM_PORT")}}
    server = subprocess.Popen(
        [LOCATOR, "serve", "--port", str(free_port())],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        assert any("drive routing engine started" in line for line in lines), lines
        assert any("serving on" in line for line in lines), lines
        status = cli(["roads", "status"], engine_env).stdout
        assert "drive engine: running" in status and "walk engine: running" in status
    finally:
        server.terminate()
        server.wait(timeout=30)


def _graph_over_osrm(
    graph: Any, vertices: Sequence[Any], directed: bool, osrm_url: str, seed: int
) -> list[float]:
    """Dijkstra over ``graph`` against OSRM's table, for 20 x 20 random vertices of the
    graph's largest (strongly) connected part, as OSRM routes within it too: the ratio
    ours / OSRM's for every trip of 2 minutes or more."""
    connection = "strong" if directed else "weak"
    _, labels = connected_components(graph, directed=directed, connection=connection)
    biggest = np.bincount(labels).argmax()
    rng = np.random.default_rng(seed)
    candidates = [v for v in vertices if labels[v[0]] == biggest]
    picks = [candidates[i] for i in rng.choice(len(candidates), size=40, replace=False)]
    origins, targets = picks[:20], picks[20:]
    times = dijkstra(graph, directed=directed, indices=[o[0] for o in origins])
    coords = ";".join(f"{lon},{lat}" for _, lon, lat in origins + targets)
    table = httpx.get(
        f"{osrm_url}/table/v1/x/{coords}",
        params={
            "sources": ";".join(str(i) for i in range(20)),
            "destinations": ";".join(str(i) for i in range(20, 40)),
        },
    ).json()
    assert table["code"] == "Ok"
    ratios = []
    for i in range(20):
        for j in range(20):
            ours, theirs = times[i][targets[j][0]], table["durations"][i][j]
            if np.isfinite(ours) and theirs and theirs > 120:
                ratios.append(float(ours / theirs))
    return ratios


def test_the_graph_agrees_with_osrm(engine_env: dict[str, str], engine: Engine) -> None:
    """The PostGIS graph's travel times (Dijkstra over road_edge) against OSRM's car
    durations between random vertices: the median ratio within 0.9-1.1, so minutes on
    an analyst's map are the route API's minutes."""
    out = cli(["roads", "import", str(LIECHTENSTEIN)], engine_env)
    assert out.returncode == 0, out.stderr
    assert "road graph in PostGIS" in out.stdout
    assert cli(["roads", "start"], engine_env).returncode == 0
    with engine.connect() as conn:
        edges = conn.execute(text("SELECT source, target, cost, reverse_cost FROM road_edge")).all()
        vertices = conn.execute(
            text("SELECT id, ST_X(geom), ST_Y(geom) FROM road_vertex ORDER BY id")
        ).all()
    assert len(edges) > 1000
    n = max(v[0] for v in vertices) + 1
    rows, cols, costs = [], [], []
    for source, target, cost, reverse in edges:
        if cost >= 0:
            rows.append(source), cols.append(target), costs.append(cost)
        if reverse >= 0:
            rows.append(target), cols.append(source), costs.append(reverse)
    graph = csr_matrix((costs, (rows, cols)), shape=(n, n))
    ratios = _graph_over_osrm(graph, vertices, True, _urls(engine_env)["drive"], seed=7)
    assert len(ratios) > 200
    median = float(np.median(ratios))
    print(f"graph / OSRM travel time: median {median:.3f} over {len(ratios)} pairs")
    assert 0.9 <= median <= 1.1, median


def test_the_walk_graph_agrees_with_osrm_foot(engine_env: dict[str, str], engine: Engine) -> None:
    """Walking too: Dijkstra over road_edge.walk_cost against OSRM's foot durations
    between random vertices of Monaco (its footways, steps and pedestrian streets), the
    same 0.9-1.1 on the median; and the walking network is more than the driving one."""
    out = cli(["roads", "import", str(MONACO)], engine_env)
    assert out.returncode == 0, out.stderr
    assert cli(["roads", "start"], engine_env).returncode == 0
    with engine.connect() as conn:
        edges = conn.execute(
            text("SELECT source, target, walk_cost, cost, reverse_cost FROM road_edge")
        ).all()
        vertices = conn.execute(
            text("SELECT id, ST_X(geom), ST_Y(geom) FROM road_vertex ORDER BY id")
        ).all()
    walkable = [(s, t, w) for s, t, w, _, _ in edges if w >= 0]
    foot_only = [e for e in edges if e[2] >= 0 and e[3] < 0 and e[4] < 0]
    car_only = [e for e in edges if e[2] < 0 and (e[3] >= 0 or e[4] >= 0)]
    assert len(foot_only) > 1000 and len(car_only) < len(foot_only) / 5, (
        len(foot_only),
        len(car_only),
    )
    n = max(v[0] for v in vertices) + 1
    rows = [s for s, _, _ in walkable] + [t for _, t, _ in walkable]
    cols = [t for _, t, _ in walkable] + [s for s, _, _ in walkable]
    costs = [w for _, _, w in walkable] * 2
    graph = csr_matrix((costs, (rows, cols)), shape=(n, n))
    ratios = _graph_over_osrm(graph, vertices, False, _urls(engine_env)["walk"], seed=11)
    assert len(ratios) > 200
    median = float(np.median(ratios))
    low, high = np.quantile(ratios, [0.1, 0.9])
    print(f"graph / OSRM walking time: median {median:.3f} (10-90 %: {low:.2f}-{high:.2f}) "
          f"over {len(ratios)} pairs")  # fmt: skip
    assert 0.9 <= median <= 1.1, median
