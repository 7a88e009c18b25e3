"""The two lists the report and the run summary lead with: par moves by value, and seasonal swings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from turnover.reporting.movers import moves_text, par_moves, percent_text, seasonal_swings


def test_par_moves_rank_by_value_moved_and_skip_unchanged():
    pars = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B", "C"], "drug_name": ["a", "b", "c"],
                         "par_level_units": [20.0, 110.0, 5.0], "unit_cost": [10.0, 0.1, 1.0],
                         "binding_constraint": "demand forecast", "reason": "r"})
    before = pars.assign(par_level_units=[10.0, 10.0, 5.0])
    moves = par_moves(pars, before)
    assert list(moves["drug_id"]) == ["A", "B"]  # 100 moved vs 10 moved; C unchanged
    assert list(moves["baseline_units"]) == [10.0, 10.0] and list(moves["change_value"]) == [100.0, 10.0]
    assert moves.loc[0, "change_pct"] == 100.0


def test_a_drug_without_a_unit_cost_counts_its_units():
    pars = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B"], "drug_name": ["a", "b"],
                         "par_level_units": [12.0, 50.0], "unit_cost": [10.0, np.nan],
                         "binding_constraint": "demand forecast", "reason": "r"})
    moves = par_moves(pars, pars.assign(par_level_units=[10.0, 10.0]))
    assert list(moves["drug_id"]) == ["B", "A"]  # 40 units outrank $20
    assert np.isnan(moves.loc[0, "change_value"])


def test_on_a_first_run_each_par_is_compared_with_today_s_position():
    pars = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B", "C"], "drug_name": ["a", "b", "c"],
                         "par_level_units": [30.0, 10.0, 8.0], "usable_on_hand_units": [5.0, 40.0, 8.0],
                         "on_order_units": [10.0, 0.0, np.nan], "unit_cost": 1.0,
                         "binding_constraint": "demand forecast", "reason": "r"})
    moves = par_moves(pars, None)
    assert list(moves["drug_id"]) == ["B", "A"]  # 30 above par, 15 below it; C at par (nothing on order)
    assert list(moves["baseline_units"]) == [40.0, 15.0] and list(moves["change_units"]) == [-30.0, 15.0]
    assert moves_text(None).baseline == "stock position" and moves_text(None).sorted_by.startswith("First run")


def test_seasonal_swings_keep_seasonal_series_and_rank_rises_and_falls_by_size():
    pars = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B", "C", "D", "E"], "drug_name": list("abcde"),
                         "seasonality_strength": [0.5, 0.4, 0.35, 0.1, np.nan]})
    protection = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B", "C", "D", "E"],
                               "forecast_next_4_units": [30.0, 20.0, 10.0, 500.0, 500.0],
                               "actual_last_4_units": [20.0, 80.0, 0.0, 1.0, 1.0]})
    swings = seasonal_swings(pars, protection, 0.3)
    # C rises from nothing, B falls 75%, A rises 50%; D and E are not seasonal enough, whatever their change.
    assert list(swings["drug_id"]) == ["C", "B", "A"]
    assert [percent_text(p) for p in swings["change_pct"]] == ["from 0", "-75%", "+50%"]


def test_a_seasonal_series_without_change_or_four_periods_of_history_is_left_out():
    pars = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B"], "drug_name": ["a", "b"],
                         "seasonality_strength": [0.5, 0.5]})
    protection = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B"], "forecast_next_4_units": [0.0, 9.0],
                               "actual_last_4_units": [0.0, np.nan]})
    assert seasonal_swings(pars, protection, 0.3).empty
