"""Rolling-origin backtests: folds never leak, scores, selection, calibration."""

import numpy as np
import pandas as pd
import pytest

from turnover import backtest
from turnover.calibration import fit_calibration
from turnover.models import COMBINATION, SeriesContext

CONTEXT = SeriesContext(season_length=52, window=26)


def test_cutoffs_form_an_expanding_window_that_ends_one_horizon_before_the_data():
    assert backtest.cutoffs(100, horizon=13, n_cutoffs=4, step=8, min_train=60) == [63, 71, 79, 87]
    assert backtest.cutoffs(100, horizon=13, n_cutoffs=4, step=8, min_train=75) == [79, 87]


def test_folds_never_leak_the_future_into_training():
    y = np.arange(120, dtype=float)
    seen = []

    def spy(name, train, context, horizon, n_paths, rng):
        seen.append((name, len(train), float(train.max())))
        return np.tile(train[-1], (n_paths, horizon))

    scores = backtest.backtest_series(
        y, ["moving_average", "exp_smoothing"], context=CONTEXT, horizon=13, n_cutoffs=3, step=4,
        n_paths=50, service_level=0.95, rng=np.random.default_rng(0), fit=spy,
    )
    for _name, n_train, latest in seen:
        assert latest == n_train - 1  # the last value a fold saw is the one just before its cutoff
    assert sorted({s.cutoff for s in scores}) == [99, 103, 107]
    assert {s.model for s in scores} == {"moving_average", "exp_smoothing", COMBINATION}


def test_changing_the_future_after_a_cutoff_changes_nothing_that_fold_forecast():
    y = np.random.default_rng(1).poisson(20, 120).astype(float)
    y_changed = y.copy()
    y_changed[99:] *= 10

    def run(series):
        fold_paths = {}

        def recording_fit(name, train, *args):
            fold_paths[len(train)] = backtest.fit_paths(name, train, *args)
            return fold_paths[len(train)]

        backtest.backtest_series(
            series, ["exp_smoothing"], context=CONTEXT, horizon=13, n_cutoffs=3, step=4, n_paths=100,
            service_level=0.95, rng=np.random.default_rng(0), fit=recording_fit,
        )
        return fold_paths

    original, changed = run(y), run(y_changed)
    np.testing.assert_array_equal(original[99], changed[99])  # trained on y[:99]: untouched by the change
    assert not np.array_equal(original[103], changed[103])  # later folds do see the change


def test_mase_of_the_seasonal_naive_on_its_own_training_pattern_is_one():
    # A series that repeats a yearly pattern plus a constant step: the scale is |step|.
    pattern = np.arange(52, dtype=float)
    train = np.r_[pattern, pattern + 2]
    assert backtest.mase_scale(train, 52) == pytest.approx(2.0)
    assert backtest.pinball(np.array([10.0]), np.array([8.0]), 0.9) == pytest.approx(1.8)
    assert backtest.pinball(np.array([10.0]), np.array([12.0]), 0.9) == pytest.approx(0.2)


def test_selection_keeps_the_preferred_model_unless_another_is_clearly_better():
    def fold(model, cutoff, mase):
        return backtest.FoldScore(model, cutoff, mase, 0.0, 1.0, np.array([0.5]))

    scores = [fold("a", 1, 1.00), fold("a", 2, 1.00), fold("b", 1, 0.97), fold("b", 2, 0.97)]
    assert backtest.select(scores, "mase", ["a", "b"], tolerance=0.05) == "a"
    assert backtest.select(scores, "mase", ["a", "b"], tolerance=0.0) == "b"
    assert backtest.select([], "mase", ["a"]) is None


def test_recalibration_restores_95_percent_coverage_of_an_overconfident_model():
    # An overconfident model: actuals fall in its upper 10% three times as often as they should.
    rng = np.random.default_rng(0)
    u = np.where(rng.random(4000) < 0.3, rng.uniform(0.9, 1.0, 4000), rng.uniform(0.0, 0.9, 4000))
    pits = pd.DataFrame({"model": "m", "fold": rng.integers(0, 6, 4000), "pit": u})
    calibration, report = fit_calibration(pits, (0.8, 0.95))
    row = report[report["target_level"] == 0.95].iloc[0]
    assert row["coverage_raw"] < 0.85
    assert 0.93 <= row["coverage_calibrated"] <= 0.97
    assert calibration.level("m", 0.95) > 0.95
    assert calibration.level("unknown", 0.95) == 0.95
