"""The analyst notebooks under notebooks/ run top to bottom against the demo warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_executes_against_the_demo_warehouse_and_draws_its_plots(path, demo_warehouse, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    # Older jupyter_core 5.x releases warn (DeprecationWarning, an error here) that Jupyter is moving
    # its paths to platformdirs unless this is set; opting in avoids it (5.9 no longer warns).
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    # The kernel inherits this process's environment: the notebook reads the warehouse from it.
    monkeypatch.setenv("TURNOVER_DB", str(demo_warehouse["path"]))
    for name in ("TURNOVER_LOCATION", "TURNOVER_DRUG"):
        monkeypatch.delenv(name, raising=False)

    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any(out.output_type == "display_data" and "image/png" in out.get("data", {}) for out in outputs), (
        f"{path.name} drew no plot"
    )
