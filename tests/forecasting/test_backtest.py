"""Rolling-origin backtests: folds never leak, scores, selection, calibration."""

import numpy as np
import pandas as pd
import pytest

from turnover.forecasting import backtest
from turnover.forecasting.calibration import fit_calibration
from turnover.forecasting.fitting import Group, group_paths
from turnover.forecasting.models import COMBINATION, SeriesContext

CONTEXT = SeriesContext(season_length=52, window=26)


def test_cutoffs_form_an_expanding_window_that_ends_one_horizon_before_the_data():
    assert backtest.cutoffs(100, horizon=13, n_cutoffs=4, step=8, min_train=60) == [63, 71, 79, 87]
    assert backtest.cutoffs(100, horizon=13, n_cutoffs=4, step=8, min_train=75) == [79, 87]


def _fit_with(fit, Y, candidates, n_cutoffs=3, step=4):
    return backtest.backtest_batch(
        Y, candidates, fit=fit, min_history={}, horizon=13, n_cutoffs=n_cutoffs, step=step,
        service_level=np.full(len(Y), 0.95), season_length=52, ties=np.full((len(Y), n_cutoffs, 13), 0.5),
    )


def test_folds_never_leak_the_future_into_training():
    Y = np.vstack([np.arange(120, dtype=float), np.arange(120, dtype=float) * 2])
    seen = []

    def spy(name, train, fold):
        seen.append((name, train.shape[1], float(train[0].max())))
        return np.repeat(train[:, None, -1:], 50, axis=1).repeat(13, axis=2)

    scores = _fit_with(spy, Y, ["moving_average", "exp_smoothing"])
    for _name, n_train, latest in seen:
        assert latest == n_train - 1  # the last value a fold saw is the one just before its cutoff
    assert scores.cutoffs == [99, 103, 107]
    assert scores.models == ["moving_average", "exp_smoothing", COMBINATION]
    assert np.isfinite(scores.mase).all()


def test_changing_the_future_after_a_cutoff_changes_nothing_that_fold_forecast():
    y = np.random.default_rng(1).poisson(20, 120).astype(float)
    y_changed = y.copy()
    y_changed[99:] *= 10
    U = np.random.default_rng(0).random((1, 3, 100, 13))

    def run(series):
        fold_paths = {}

        def recording_fit(name, train, fold):
            fold_paths[train.shape[1]] = group_paths(name, train, U[:, fold], Group([CONTEXT], [None]))
            return fold_paths[train.shape[1]]

        _fit_with(recording_fit, series[None, :], ["exp_smoothing"])
        return fold_paths

    original, changed = run(y), run(y_changed)
    np.testing.assert_array_equal(original[99], changed[99])  # trained on y[:99]: untouched by the change
    assert not np.array_equal(original[103], changed[103])  # later folds do see the change


def test_a_series_scores_the_same_alone_or_in_a_batch():
    rng = np.random.default_rng(3)
    Y = rng.poisson(rng.uniform(1, 30, (5, 1)), (5, 130)).astype(float)
    U = rng.random((5, 6, 200, 13))

    def fit(name, train, fold, rows=slice(None)):
        return group_paths(name, train, U[rows, fold], Group([CONTEXT] * train.shape[0], [None] * train.shape[0]))

    together = backtest.backtest_batch(Y, ["dynamic_harmonic", "tsb"], fit=fit, min_history={"dynamic_harmonic": 53},
                                       horizon=13, n_cutoffs=6, step=8, service_level=np.full(5, 0.9),
                                       season_length=52, ties=np.full((5, 6, 13), 0.5))
    alone = backtest.backtest_batch(Y[2:3], ["dynamic_harmonic", "tsb"], fit=lambda n, t, f: fit(n, t, f, slice(2, 3)),
                                    min_history={"dynamic_harmonic": 53}, horizon=13, n_cutoffs=6, step=8,
                                    service_level=np.full(1, 0.9), season_length=52, ties=np.full((1, 6, 13), 0.5))
    np.testing.assert_allclose(together.mase[:, 2], alone.mase[:, 0])
    np.testing.assert_allclose(together.pits[:, 2], alone.pits[:, 0])


def test_mase_of_the_seasonal_naive_on_its_own_training_pattern_is_one():
    # A series that repeats a yearly pattern plus a constant step: the scale is |step|.
    pattern = np.arange(52, dtype=float)
    train = np.r_[pattern, pattern + 2]
    assert backtest.mase_scale(train, 52) == pytest.approx(2.0)
    assert backtest.pinball(np.array([10.0]), np.array([8.0]), 0.9) == pytest.approx(1.8)
    assert backtest.pinball(np.array([10.0]), np.array([12.0]), 0.9) == pytest.approx(0.2)


def test_selection_keeps_the_preferred_model_unless_another_is_clearly_better():
    mase = np.array([[[1.00, 1.00]], [[0.97, 0.97]]])  # models x rows x cutoffs
    scores = backtest.Scores(["a", "b"], [1, 2], mase, mase, mase, np.zeros((2, 1, 2, 1)))
    assert backtest.select(scores, "mase", ["a", "b"], tolerance=0.05).tolist() == [0]
    assert backtest.select(scores, "mase", ["a", "b"], tolerance=0.0).tolist() == [1]
    unscored = backtest.Scores(["a"], [1], np.full((1, 1, 1), np.nan), *[np.full((1, 1, 1), np.nan)] * 2,
                               np.zeros((1, 1, 1, 1)))
    assert backtest.select(unscored, "mase", ["a"]).tolist() == [-1]


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


def test_the_window_pit_is_the_share_of_path_sums_below_the_actual_sum_over_the_pars_window():
    rng = np.random.default_rng(2)
    Y = rng.poisson(20, (3, 80)).astype(float)
    paths_by_fold = {}

    def fit(name, train, fold):
        paths_by_fold[fold] = rng.poisson(20, (len(train), 300, 13)).astype(float)
        return paths_by_fold[fold]

    window = np.zeros((3, 13))
    window[:, 0], window[:, 1] = 1.0, 2 / 7  # 9 days of weekly buckets: a week and two days
    scores = backtest.backtest_batch(Y, ["m"], fit=fit, min_history={}, horizon=13, n_cutoffs=2, step=4,
                                     service_level=np.full(3, 0.9), season_length=52,
                                     ties=np.zeros((3, 2, 13)), window=window)
    for k, c in enumerate(scores.cutoffs):
        paths = paths_by_fold[(80 - 13 - c) // 4]
        summed = paths @ window[0]
        actual = Y[:, c: c + 13] @ window[0]
        np.testing.assert_allclose(scores.window_pits[0, :, k], (summed < actual[:, None]).mean(axis=1))
        quantile = np.quantile(summed, 0.9, axis=1)
        loss = np.maximum(0.9 * (actual - quantile), -0.1 * (actual - quantile))
        scale = backtest.mase_scale(Y[:, :c], 52)
        np.testing.assert_allclose(scores.window_pinball[0, :, k], loss / (scale * window[0].sum()))


def test_the_pars_level_is_recalibrated_on_window_pits_where_a_model_has_enough_and_per_period_otherwise():
    from turnover.forecasting.calibration import MIN_PITS
    from turnover.forecasting.forecast import par_window_pits

    many = pd.DataFrame({"model": "a", "fold": 0, "horizon": 0, "pit": np.linspace(0, 1, MIN_PITS)})
    few = pd.DataFrame({"model": "b", "fold": 0, "horizon": 0, "pit": [0.5] * 3})
    periods = pd.DataFrame({"model": ["a", "b"] * 6, "fold": 0, "horizon": np.repeat(np.arange(1, 7), 2),
                            "pit": 0.25})
    chosen = par_window_pits(pd.concat([many, few, periods], ignore_index=True), near_periods=4)
    assert (chosen.loc[chosen["model"] == "a", "horizon"] == 0).all() and (chosen["model"] == "a").sum() == MIN_PITS
    assert sorted(chosen.loc[chosen["model"] == "b", "horizon"]) == [1, 2, 3, 4]
