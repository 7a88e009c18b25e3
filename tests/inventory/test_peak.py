"""The peak-season guard: a par far above anything ever dispensed over its window is limited unless backed."""

import numpy as np
import pandas as pd
import pytest

from turnover.forecasting import peaks
from turnover.inventory.policy import finish_calendar, par_levels
from turnover.settings import PolicySettings


def test_the_most_seen_over_9_days_spreads_each_week_evenly_over_its_days():
    # Best 9 days: the 400 week and 2 days of the 250 week after it.
    assert peaks.window_peak(np.array([10.0, 400.0, 250.0, 0.0]), 9, 7) == pytest.approx(400 + 250 * 2 / 7)
    assert peaks.window_peak(np.array([10.0, 400.0, 250.0, 0.0]), 2, 7) == pytest.approx(400 * 2 / 7)
    assert peaks.window_peak(np.array([10.0, 400.0, 250.0, 0.0]), 14, 7) == pytest.approx(650)
    assert peaks.window_peak(np.array([3.0, 4.0]), 30, 7) == 7  # a window longer than the history: all of it
    assert np.isnan(peaks.window_peak(np.array([]), 9, 7))


def test_a_signal_is_above_earlier_seasons_only_when_its_latest_value_beats_every_earlier_one():
    earlier = {k: 1.0 + 5.0 * (k == 10) for k in range(60)}  # an earlier peak of 6
    assert not peaks.signal_above_seasons({**earlier, 60: 5.5}, 0, 52)
    assert peaks.signal_above_seasons({**earlier, 60: 6.5}, 0, 52)
    assert not peaks.signal_above_seasons({**earlier, 60: 6.5}, 40, 52)  # no earlier season in the history
    assert not peaks.signal_above_seasons(None, 0, 52)


def _protection(prot_q, peak_units, backing="", lead_q=None):
    return pd.DataFrame([dict(location_id="S1", drug_id="D1", model="dynamic_harmonic", basis="test basis",
                              lead_time_demand_mean=0.0, lead_time_demand_units=lead_q or prot_q / 4,
                              protection_demand_mean=300.0, protection_demand_units=prot_q,
                              forecast_next_4_units=1000.0, actual_last_4_units=600.0, peak_lead_units=peak_units / 4,
                              peak_protection_units=peak_units, peak_backing=backing)])


def _series():
    return pd.DataFrame([dict(location_id="S1", drug_id="D1", drug_name="Oseltamivir", history_periods=183,
                              lead_time_days=2, lead_time_defaulted=False, pack_size_units=10.0,
                              pack_size_defaulted=False, criticality="vital", min_par_units=0.0, on_hand_units=46.0,
                              on_order_units=0.0, on_hand_known=True, seasonality_strength=0.5)])


def test_a_par_far_above_the_most_ever_dispensed_is_limited_and_the_reason_says_so():
    out = par_levels(_series(), _protection(1605.7, 471.4), PolicySettings()).iloc[0]
    assert out.par_level_units == np.ceil(2.5 * 471.4)  # 1,179, not 1,606
    assert out.reorder_point_units == np.ceil(2.5 * 471.4 / 4)
    assert out.binding_constraint == "peak cap" and out.reason.count(". ") <= 1
    assert "Par limited to 2.5x the most ever dispensed in 9 days (1,179 units, against 471 at most before; " \
           "the forecast alone gave 1,606)." in out.reason


def test_a_par_within_the_bound_is_untouched():
    out = par_levels(_series(), _protection(700.0, 471.4), PolicySettings()).iloc[0]
    assert out.par_level_units == 700 and out.binding_constraint == "seasonal rise"
    assert out.reason.count(". ") <= 1  # one or two sentences, as every reason
    assert "limited" not in out.reason


def test_a_backed_par_goes_beyond_the_bound_and_the_reason_names_what_backs_it():
    backed = "flu activity running above any earlier season"
    out = par_levels(_series(), _protection(1605.7, 471.4, backed), PolicySettings()).iloc[0]
    assert out.par_level_units == 1606 and out.binding_constraint == "seasonal rise"
    assert "Par above 2.5x the most ever dispensed in 9 days (471): flu activity running above any earlier " \
           "season." in out.reason


def test_the_multiple_is_configurable_and_zero_switches_the_rule_off():
    assert par_levels(_series(), _protection(1605.7, 471.4), PolicySettings(peak_cap_multiple=3.0)
                      ).iloc[0].par_level_units == np.ceil(3 * 471.4)
    assert par_levels(_series(), _protection(1605.7, 471.4), PolicySettings(peak_cap_multiple=0)
                      ).iloc[0].par_level_units == 1606


def test_a_series_without_a_peak_on_record_is_not_limited():
    out = par_levels(_series(), _protection(1605.7, np.nan), PolicySettings()).iloc[0]
    assert out.par_level_units == 1606


def test_the_par_calendar_is_limited_by_the_same_bound():
    pars = par_levels(_series(), _protection(1605.7, 471.4), PolicySettings())
    calendar = pd.DataFrame({"location_id": "S1", "drug_id": "D1", "week_start": ["2026-12-07", "2026-12-14"],
                             "demand_mean_units": [250.0, 280.0], "lead_time_demand_units": [400.0, 520.0],
                             "protection_demand_units": [1605.7, 2085.1]})
    out = finish_calendar(calendar, pars)
    assert list(out["par_level_units"]) == [np.ceil(2.5 * 471.4)] * 2
    assert list(out["reorder_point_units"]) == [np.ceil(2.5 * 471.4 / 4)] * 2


def test_history_peaks_need_a_full_season_and_name_a_trend_or_a_signal():
    protection = pd.DataFrame({"lead_time_days": [2, 2, 2], "protection_demand_mean": [100.0, 900.0, 100.0]})
    year = np.r_[np.full(40, 10.0), np.full(12, 350.0)]
    signal = {k: 1.0 + 5.0 * (k == 10) for k in range(52)} | {52: 7.0}  # the latest week beats the earlier peak
    out = peaks.history_peaks(protection, [np.full(20, 10.0), year, year], [None, None, signal], [0, 0, 1],
                             review_days=7, season_length=52, period_days=7)
    assert np.isnan(out["peak_protection_units"].iloc[0])  # under a season: nothing to compare with
    assert out["peak_protection_units"].iloc[1] == pytest.approx(350 * 9 / 7)
    assert out["peak_lead_units"].iloc[1] == pytest.approx(100)
    assert list(out["peak_backing"]) == [
        "", "a trend: 900 units expected over 9 days, more than ever dispensed",
        "flu activity running above any earlier season"]
