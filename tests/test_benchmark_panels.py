"""The panel benchmark runs end to end on slices of two real panels, and its engine path never looks ahead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
PHARMA, HOSPITAL = DATASETS / "pharma_sales" / "salesdaily.csv", DATASETS / "hospital_products" / "hospital_products_dev.csv"
METHODS = ["ours (turnover)", "SeasonalNaive", "AutoETS", "MSTL", "CrostonOptimized"]
needs_panels = pytest.mark.skipif(not (PHARMA.exists() and HOSPITAL.exists()),
                                  reason=f"pharma_sales or hospital_products not found under {DATASETS}")


@pytest.mark.slow
@pytest.mark.realdata
@needs_panels
def test_panel_benchmark_scores_every_method_on_two_real_panels(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "panels.py"), "--panels", "pharma,hospital", "--max-series", "4",
         "--origins", "2", "--results", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for panel, extra in (("pharma", []), ("hospital", ["AutoARIMA"])):  # AutoARIMA: monthly panels only by default
        table = pd.read_csv(tmp_path / f"{panel}_methods.csv", index_col="method")
        assert list(table.index) == METHODS + extra
        assert table["mase"].notna().all() and (table["mase"] > 0).all()
        with_quantile = table.drop(index="CrostonOptimized")  # statsforecast gives Croston no intervals
        assert with_quantile[["pinball_q95", "coverage_q95"]].notna().all().all()
        assert table.loc["CrostonOptimized", ["pinball_q95", "coverage_q95"]].isna().all()
        series = pd.read_csv(tmp_path / f"{panel}_series.csv")
        assert series.groupby("method").size().nunique() == 1, "every method scored on the same series x origins"
        assert series["origin"].nunique() == 2
    assert "ours / best statsforecast" in done.stdout
    targets = pd.read_csv(tmp_path / "targets.csv", index_col="panel")
    assert list(targets.index) == ["pharma", "hospital"] and targets["mase_ratio"].gt(0).all()


@pytest.fixture(scope="module")
def panel_methods():
    """``benchmarks/panel_methods.py`` (benchmarks/ is not a package), imported without leaving its
    ``OMP_NUM_THREADS=1`` in this process's environment for the tests after it."""
    had = "OMP_NUM_THREADS" in os.environ
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import panel_data
        import panel_methods
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
        if not had:
            os.environ.pop("OMP_NUM_THREADS", None)
    return panel_data, panel_methods


@pytest.mark.slow
@pytest.mark.realdata
@needs_panels
def test_a_history_row_after_the_origin_cannot_move_the_engines_forecast(tmp_path, panel_methods):
    panel_data, methods = panel_methods
    panel = panel_data.load_pharma().take(2)
    cut = panel_data.origins(panel, 1)[0]
    after = panel.starts[cut].date()  # the first forecast day: the day after the as-of date
    runs = {}
    for label, changed in (("as sent", None), ("tripled after the origin", (after, 3.0))):
        workdir = tmp_path / label.replace(" ", "_")
        workdir.mkdir()
        runs[label] = methods.engine_runs(panel, [cut], workdir, changed)[0][cut]
    assert len(runs["as sent"]) > 0
    pd.testing.assert_frame_equal(runs["as sent"], runs["tripled after the origin"])
    # ...while the rows after the origin were really there and changed: the same change on the origin's last
    # day moves the forecast.
    workdir = tmp_path / "changed_on_the_as_of_day"
    workdir.mkdir()
    moved = methods.engine_runs(panel, [cut], workdir, (panel.as_of(cut), 3.0))[0][cut]
    assert not moved["mean"].equals(runs["as sent"]["mean"])
