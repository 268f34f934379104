"""The analysts' notebooks (notebooks/*.ipynb) run top to bottom against the session's
test database: a kernel with ``LOCATOR_DATABASE_URL`` set, executed by nbclient; any
cell's error fails the test. The maps they write go to the test's folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]'")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(path: Path, db_url: str, workdir: Path) -> tuple[object, float]:
    """Execute a copy of the notebook in a kernel that sees the test database; the
    executed notebook and how long it took."""
    nb = nbformat.read(path, as_version=4)
    # a last cell of the test's own: which database the notebook's settings named
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "from locator.db.engine import database_url\n"
            "print('database:', database_url(get_settings(), start=False))"
        )
    )
    env = {**os.environ, "LOCATOR_DATABASE_URL": db_url, "LOCATOR_NOTEBOOK_OUTPUT": str(workdir)}
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    started = time.monotonic()
    # the kernel inherits this environment (nbclient passes it on to the kernel manager)
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    return nb, time.monotonic() - started


def _outputs(nb: object) -> str:
    text = []
    for cell in getattr(nb, "cells", []):
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            text.append(str(out.get("data", {}).get("text/plain", "")))
            text.append(str(out.get("data", {}).get("text/html", ""))[:20_000])
    return "\n".join(text)


@pytest.mark.parametrize("name", ["coverage_gaps", "no_copy_compliance"])
def test_the_notebook_runs_top_to_bottom(name: str, db_url: str, tmp_path: Path) -> None:
    path = NOTEBOOKS / f"{name}.ipynb"
    stored = nbformat.read(path, as_version=4)
    # notebooks are kept without outputs in git
    assert all(
        not c.get("outputs") and not c.get("execution_count")
        for c in stored.cells
        if c.cell_type == "code"
    ), path
    try:
        nb, seconds = run_notebook(path, db_url, tmp_path)
    except nbclient.exceptions.CellExecutionError as exc:  # the cell, the error, the trace
        pytest.fail(f"{path.name}: a cell failed:\n{exc}")
    print(f"{path.name} ran in {seconds:.1f} s")
    out = _outputs(nb)
    assert f"database: {db_url}" in out  # the test database, through the settings
    html = sorted(tmp_path.glob("*.html"))
    assert len(html) == 1, html  # the map it writes
    if name == "coverage_gaps":
        assert "people now" in out and "new sites" in out
        assert html[0].name == "coverage-land_title_transfer.html"
    else:
        assert "generated data, not a fact" in out
        assert "generated (synthetic) data" in html[0].read_text(encoding="utf-8")
