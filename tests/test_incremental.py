"""Incremental weekly runs: between full reselections a run refits the stored models (issue 7)."""

from datetime import date

import duckdb
import pandas as pd
import pytest

from tests.conftest import make_settings, run_pipeline
from turnover import pipeline
from turnover.forecasting.calibration import Calibration
from turnover.io.selection import StoredSelection

WEEK_BEFORE, LAST_WEEK = date(2026, 11, 15), date(2026, 11, 22)


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory, demo_files):
    """A full run as of 15 Nov, then a run a week later (reusing it) and one forced to reselect."""
    settings = make_settings(tmp_path_factory.mktemp("incremental"))
    pipeline.load_history(settings, demo_files.history)
    pipeline.load_reference(settings, catalog=demo_files.catalog, on_hand=demo_files.on_hand,
                            stockouts=demo_files.stockouts, closures=demo_files.closures)
    run_pipeline(settings, WEEK_BEFORE, "full")
    run_pipeline(settings, LAST_WEEK, "refit")
    always = settings.model_copy(update={"forecast": settings.forecast.model_copy(update={"reselect_every_days": 0})})
    run_pipeline(always, LAST_WEEK, "reselected")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        selection = con.execute("select * from marts.model_selection").df()
        scores = con.execute("select run_id, count(distinct (location_id, drug_id)) n from marts.backtest_scores "
                             "group by run_id").df().set_index("run_id")["n"]
        calibration = con.execute("select run_id, count(*) n from marts.calibration group by run_id").df()
        forecasts = con.execute("select run_id, count(distinct (location_id, drug_id)) n from marts.forecast "
                                "group by run_id").df().set_index("run_id")["n"]
    return selection, scores, calibration.set_index("run_id")["n"], forecasts


def test_a_run_a_week_after_a_full_one_refits_its_models_and_backtests_only_what_needs_it(two_weeks):
    selection, scores, calibration, forecasts = two_weeks
    full = selection[selection["run_id"] == "full"].set_index(["location_id", "drug_id"])
    refit = selection[selection["run_id"] == "refit"].set_index(["location_id", "drug_id"])
    assert (full["selected_run_id"] == "full").all()
    assert (refit["selected_run_id"] == "full").all() and (refit["selected_as_of"] == pd.Timestamp(WEEK_BEFORE)).all()
    chosen_by_backtest = full.index[full["by_backtest"]]
    # every backtest choice is kept, and only the series chosen by rule were looked at again
    assert (refit.loc[chosen_by_backtest, "model"] == full.loc[chosen_by_backtest, "model"]).all()
    assert scores.get("refit", 0) <= len(full) - len(chosen_by_backtest) < scores["full"]
    assert "refit" not in calibration.index and calibration["full"] > 0  # the stored maps are reused
    assert forecasts["refit"] == forecasts["full"] == len(full)  # every series is still forecast


def test_reselect_every_days_zero_reselects_every_run(two_weeks):
    selection, scores, calibration, _ = two_weeks
    again = selection[selection["run_id"] == "reselected"]
    assert (again["selected_run_id"] == "reselected").all()
    assert scores["reselected"] == scores["full"] and calibration["reselected"] > 0


def test_a_selection_28_days_old_is_not_reused():
    rows = pd.DataFrame({"location_id": ["S1", "S1"], "drug_id": ["D1", "D2"], "model": ["tsb", "empirical_bootstrap"],
                         "basis": ["by backtest", "rule"], "by_backtest": [True, False]})
    stored = StoredSelection("r1", date(2026, 10, 25), rows, Calibration({}), Calibration({}))
    fresh = pipeline.reusable(stored, date(2026, 11, 21), 28)
    assert fresh is not None and fresh.keys == (("S1", "D1"),)  # rule choices are made afresh
    assert pipeline.reusable(stored, date(2026, 11, 22), 28) is None
    assert pipeline.reusable(stored, date(2026, 11, 1), 0) is None
    assert pipeline.reusable(None, date(2026, 11, 1), 28) is None
