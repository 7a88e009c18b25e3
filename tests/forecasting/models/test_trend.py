"""Damped-trend exponential smoothing: follows a trend, lets it fade, and agrees with statsmodels' fit."""

import warnings

import numpy as np
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from turnover.forecasting.models.trend import DampedTrendBatch

RNG = np.random.default_rng(5)
MONTHS = np.arange(96)
SLOPES = np.array([-0.6, 0.0, 0.8, 2.0])
TRENDING = np.vstack([np.maximum(0, 100 + s * MONTHS + RNG.normal(0, 4, len(MONTHS))) for s in SLOPES])


def test_a_growing_series_is_followed_up_and_a_dying_one_down_where_ses_would_stay_flat():
    model = DampedTrendBatch().fit(TRENDING)
    means = model.sample_paths(RNG.random((4, 2000, 12)).astype(np.float32)).mean(axis=1)
    last = TRENDING[:, -6:].mean(axis=1)
    assert means[3, -1] > last[3] + 10 and means[0, -1] < last[0] - 3  # the trend carries on
    assert abs(means[1, -1] - last[1]) < 6  # no trend invented
    fit = model.level_
    assert np.all(fit.phi_ < 1) and np.all(fit.beta_ <= fit.alpha_)  # a trend that fades, as ETS bounds it


@pytest.mark.parametrize("row", range(4))
def test_the_forecast_agrees_with_statsmodels_damped_holt_on_the_log_scale(row):
    z = np.log1p(TRENDING[row])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = np.expm1(ExponentialSmoothing(z, trend="add", damped_trend=True).fit().forecast(12))
    model = DampedTrendBatch().fit(TRENDING[row])
    median = np.median(model.sample_paths(RNG.random((1, 2000, 12)).astype(np.float32))[0], axis=0)
    # a grid (alpha by 0.05, phi in 0.8 .. 0.98) against an optimiser: within 4% of the level a year ahead
    np.testing.assert_allclose(median, reference, rtol=0.04)
