"""What the weekly refit's shortcuts must not change: peaks of many histories at once, fold views of a few series."""

from datetime import date

import numpy as np
import pandas as pd

from turnover.forecasting import peaks
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings

SETTINGS = ForecastSettings()


def _season(n: int, seed: int) -> np.ndarray:
    weeks = np.arange(n)
    distance = np.minimum(np.abs(weeks % 52 - 50), 52 - np.abs(weeks % 52 - 50))
    return np.random.default_rng(seed).poisson(10 * (1 + 9 * np.exp(-0.5 * (distance / 3) ** 2))).astype(float)


def test_window_peaks_of_many_histories_are_each_history_s_window_peak_to_the_bit():
    rng = np.random.default_rng(4)
    Y = rng.gamma(0.7, 30.0, (9, 60))
    Y[2, 5:9] = np.nan  # a censored stretch counts as no demand
    for days in (0, 3, 9, 14.0, 30.4, 400):
        rows = peaks.window_peaks(Y, days, 7)
        assert all(rows[k] == peaks.window_peak(Y[k], days, 7) for k in range(len(Y)))


def test_a_refit_gives_the_new_series_the_fold_views_and_choices_a_full_run_gives_them():
    # S3 is new at the refit: it is backtested with the folds of S1 and S2's flu season, as a full run would.
    keys = pd.DataFrame({"location_id": ["S1", "S1", "S2", "S2", "S3"], "drug_id": ["FLU", "D2", "FLU", "D2", "FLU"]})
    histories = [_season(148, 1), np.full(120, 3.0), _season(148, 2), np.full(90, 4.0), _season(148, 3)[-60:]]
    panel = DemandPanel(keys, np.concatenate([[0], np.cumsum([len(h) for h in histories])]), np.concatenate(histories))
    window = ProtectionWindow(np.array([2, 5, 2, 9, 3]), 7, 0.95, calendar_periods=3)
    full = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS)
    old = full.selection
    reuse = type(old)(old.keys[:4], old.chosen[:4], old.near, old.all, old.by_backtest[:4], old.fresh[:4])
    refit = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS, reuse=reuse)
    assert refit.selection.chosen == full.selection.chosen
    s3 = (full.scores["location_id"] == "S3")
    pd.testing.assert_frame_equal(refit.scores, full.scores[s3].reset_index(drop=True))
    for name in ("protection", "calendar"):
        pd.testing.assert_frame_equal(getattr(refit, name), getattr(full, name), obj=name)
