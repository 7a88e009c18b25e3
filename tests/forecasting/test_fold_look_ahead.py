"""No look-ahead inside the engine's backtest: a fold sees only what was known at its cutoff.

Both tests run production's fold code (``forecast_panel``: the fold views, ``_select_batch``, the global
model's folds); the first spies on what each fold's models are given, the second compares whole scores.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from turnover import calendar
from turnover.forecasting import select as selection_pass  # pass 1: the backtest fits spied on
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings

AS_OF = date(2026, 11, 22)
SETTINGS = ForecastSettings(n_paths=200, backtest_paths=100)
HORIZON, STEP = 13, 8  # the weekly defaults: fold j's cutoff is 13 + 8 j periods before the end
N = 148
FIRST_FORECAST = calendar.period_index(calendar.first_forecast_start(AS_OF, "week"), "week")
REAL_GROUP_PATHS = selection_pass.group_paths  # the spy wraps this one, however often it is installed


def seasonal(seed: int, n: int = N, base: float = 10.0) -> np.ndarray:
    weeks = np.arange(n)
    distance = np.minimum(np.abs(weeks % 52 - 50), 52 - np.abs(weeks % 52 - 50))
    return np.random.default_rng(seed).poisson(base * (1 + 9 * np.exp(-0.5 * (distance / 3) ** 2))).astype(float)


def panel_of(series: dict[tuple[str, str], np.ndarray]) -> DemandPanel:
    keys = pd.DataFrame(list(series), columns=["location_id", "drug_id"])
    histories = list(series.values())
    return DemandPanel(keys, np.concatenate([[0], np.cumsum([len(h) for h in histories])]).astype(np.int64),
                       np.concatenate(histories))


def base_panel() -> dict[tuple[str, str], np.ndarray]:
    steady = np.random.default_rng(7).poisson(20, N).astype(float)
    cutoff = N - HORIZON - STEP  # fold 1
    steady[cutoff - 2 : cutoff] = np.nan  # a logged stockout just before fold 1's cutoff
    return {("S1", "FLU"): seasonal(1), ("S2", "FLU"): seasonal(2), ("S3", "FLU"): seasonal(3)[-60:],
            ("S1", "STEADY"): steady, ("S2", "SLOW"): np.tile([0.0, 0, 3, 0, 0, 0, 1, 0], N // 8 + 1)[:N]}


def changed_from(series: dict[tuple[str, str], np.ndarray], periods_before_end: int, seed: int = 11):
    """The same panel with every period from ``periods_before_end`` before the end replaced by other values."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, y in series.items():
        y = y.copy()
        tail = y[-periods_before_end:]
        y[-periods_before_end:] = rng.poisson(np.nanmean(y) * rng.uniform(0.1, 6.0), len(tail))
        y[-3:] = 0.0  # and a run of zeros at the very end
        out[key] = y
    return out


def trains_seen(monkeypatch, series) -> dict[tuple[str, int, bytes], np.ndarray]:
    """What each model was fitted on in the backtest, per (model, cutoff in periods before the end, series' uniforms)."""
    seen: dict[tuple[str, int, bytes], np.ndarray] = {}

    def spy(name, Y, U, group):
        if U.ndim == 3 and U.shape[1] == SETTINGS.backtest_paths:  # a fold's fit (the final fit has n_paths)
            for r, context in enumerate(group.contexts):
                back = FIRST_FORECAST - context.origin - Y.shape[1]  # the fold's cutoff, periods before the end
                seen[(name, back, U[r, :2, 0].tobytes())] = Y[r].copy()
        return REAL_GROUP_PATHS(name, Y, U, group)

    monkeypatch.setattr(selection_pass, "group_paths", spy)
    forecast_panel(panel_of(series), ProtectionWindow(np.full(len(series), 2), 7, 0.95), AS_OF, SETTINGS)
    return seen


def test_a_fold_trains_on_its_history_with_censored_periods_filled_from_that_history_alone(monkeypatch):
    before = trains_seen(monkeypatch, base_panel())
    after = trains_seen(monkeypatch, changed_from(base_panel(), HORIZON + STEP))  # fold 1's cutoff onwards
    early = [k for k in before if k[1] >= HORIZON + STEP and k in after]
    assert any(k[1] == HORIZON + STEP and k[0] == "exp_smoothing" for k in early)  # the steady series' fold 1
    different = [k for k in early if not np.array_equal(before[k], after[k])]
    assert not different, f"{len(different)} fold fits saw periods after their cutoff, e.g. {different[0][:2]}"


@pytest.mark.parametrize("fold", [1, 2])
def test_a_folds_candidates_scores_and_borrowed_seasons_ignore_everything_after_its_scored_window(fold):
    # Only periods after fold ``fold``'s scored window change (a collapse, a surge, zeros at the end): the
    # fold's classes and candidate lists, the siblings' profile the newcomer borrows, the censoring fills
    # and the global model are all judged on the fold's history, so its scores are the same, model by model.
    back = HORIZON + fold * STEP  # the fold's cutoff, periods before the end
    after_window = back - HORIZON
    base, changed = base_panel(), changed_from(base_panel(), after_window)
    a, b = (forecast_panel(panel_of(s), ProtectionWindow(np.full(len(s), 2), 7, 0.95), AS_OF, SETTINGS).scores
            for s in (base, changed))
    lengths = {key: len(y) for key, y in base.items()}

    def fold_rows(scores):
        at = [lengths[(loc, drug)] - back for loc, drug in zip(scores["location_id"], scores["drug_id"], strict=True)]
        return scores[scores["train_periods"].to_numpy() <= np.array(at)].drop(columns="chosen").sort_values(
            ["location_id", "drug_id", "model", "train_periods"], ignore_index=True)

    pd.testing.assert_frame_equal(fold_rows(a), fold_rows(b))
    assert {"borrowed_profile", "dynamic_harmonic"} <= set(fold_rows(a)["model"])


def test_the_par_reads_the_level_its_window_sums_met_in_backtests_not_the_per_period_one():
    """Demand whose weeks move together (a level that wanders) against a model whose weeks are independent:
    each week's spread can look right while the sum over a 9-day window is too narrow. The par's level is
    recalibrated on the window's own PITs (production's forecast_panel), so it reads further up the paths than
    the per-period map would."""
    rng = np.random.default_rng(4)
    weeks, n = 160, 30
    level = 100 + np.cumsum(rng.normal(0, 6, (n, weeks)), axis=1)
    units = np.maximum(0, level + rng.normal(0, 8, (n, weeks))).round()
    keys = pd.DataFrame({"location_id": [f"L{i}" for i in range(n)], "drug_id": "x"})
    panel = DemandPanel(keys, np.arange(n + 1) * weeks, units.ravel())
    settings = ForecastSettings(candidates_smooth=["moving_average"], candidates_seasonal=["moving_average"],
                                n_paths=400, backtest_paths=200)
    window = ProtectionWindow(np.full(n, 2), 7, 0.95)
    result = forecast_panel(panel, window, date(2026, 11, 29), settings)
    report = result.calibration
    near = report[(report["scope"] == "near") & (report["target_level"] == 0.95)]
    every = report[(report["scope"] == "all") & (report["target_level"] == 0.95)]
    assert len(near) == 1 and len(every) == 1
    assert result.protection["calibrated_level"].iloc[0] == pytest.approx(near["calibrated_level"].iloc[0])
    # the window's own PITs (the per-period map pooled 4 periods per fold), and out of fold they meet the target
    folds = result.scores.groupby(["location_id", "drug_id"])["train_periods"].nunique().sum()
    assert near["n_pits"].iloc[0] == folds  # one PIT per series and fold: the window's sum, not its periods
    assert near["coverage_raw"].iloc[0] < 0.94 and abs(near["coverage_calibrated"].iloc[0] - 0.95) < 0.04
