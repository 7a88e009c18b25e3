"""As a lumpy seasonal drug's season ramps up, the upper quantiles of its demand stay near what was ever seen.

The demo's oseltamivir at STORE-01 (quiet weeks of 0, 10 or 20 units, flu peaks of 200 to 400) got a par of
1,606 for 9 days as its season ramped, 3.4 times the most it ever dispensed in 9 days: the quiet weeks'
log-scale residuals (+-2) were resampled onto the peak, where the noise is +-0.5.
"""

import numpy as np
import pytest

import turnover.forecasting.models.batch as batch
from turnover.forecasting.models import DynamicHarmonic, HarmonicTrend, SignalRegression
from turnover.forecasting.peaks import window_peak

ORIGIN = 2800  # absolute week index of the first history week
PEAKS = (30, 82, 134, 186)  # flu peaks, weeks from the first history week
AMPLITUDES = (1.0, 0.8, 0.6, 1.0)


def flu(n_weeks: int) -> np.ndarray:
    """% ILI: 1% baseline plus a season of 4 weeks' spread around each peak."""
    weeks = np.arange(n_weeks)
    return 1.0 + sum(6.0 * a * np.exp(-0.5 * ((weeks - p) / 4.0) ** 2) for p, a in zip(PEAKS, AMPLITUDES, strict=True))


def ramping_history(seed: int = 3) -> np.ndarray:
    """Three past seasons peaking near 300 units a week, dispensed in packs of 10 (quiet weeks of 0 to 20
    units), ending 4 weeks before the fourth season's peak, on its ramp."""
    rng = np.random.default_rng(seed)
    n = PEAKS[-1] - 4
    mean_units = 6.0 + 50.0 * (flu(n) - 1.0)
    return 10.0 * rng.poisson(mean_units / 10.0)


def nine_days(paths: np.ndarray) -> np.ndarray:
    """Demand over the 9 days from a Monday: week 1 and two days of week 2."""
    return paths[:, 0] + paths[:, 1] * 2 / 7


MODELS = {
    "dynamic_harmonic": lambda: DynamicHarmonic(52),
    "harmonic_trend": lambda: HarmonicTrend(52),
    "signal_regression": lambda: SignalRegression({ORIGIN + i: float(v) for i, v in enumerate(flu(PEAKS[-1] - 4))},
                                                  ORIGIN),
}


@pytest.mark.parametrize("name", [
    "dynamic_harmonic", "harmonic_trend",
    # Its noise is now drawn by level too, but its mean overshoots: log1p(demand) on log1p(flu activity), fitted
    # mostly on quiet weeks, gives an elasticity of 4 that puts this ramp's median at twice the earlier peaks
    # (demand that is linear in activity wants log1p(y) = c + log(1 + b x)). The par's peak guard limits it.
    pytest.param("signal_regression", marks=pytest.mark.xfail(strict=True, reason="log-log signal form overshoots")),
])
def test_a_ramping_season_keeps_the_upper_quantile_near_the_largest_demand_seen(name):
    y = ramping_history()
    seen = window_peak(y, 9, 7)  # the most ever dispensed in 9 days
    assert y[-4:].max() < 0.8 * y.max()  # the history ends on the ramp, below the earlier peaks
    paths = MODELS[name]().fit(y).sample_paths(4, 4000, np.random.default_rng(0))
    q995 = np.quantile(nine_days(paths), 0.995)
    # The 99.5% level is what a 99% service level reads after recalibration. A season as big as the largest
    # seen, or some more, is plausible; several times the largest ever is not.
    assert q995 < 2.0 * seen, f"q99.5 over 9 days {q995:.0f} vs the most ever seen {seen:.0f}"
    assert q995 > 0.6 * seen  # and it still covers a season like the earlier ones


def test_residuals_are_resampled_from_the_periods_fitted_near_the_level_ahead():
    fitted = np.array([[0.0, 0.1, 0.2, 5.0, 5.1, 5.2]])
    pool = np.array([[-2.0, 2.0, -1.5, 0.1, -0.1, 0.2]])
    U = np.linspace(0, 0.999, 600).reshape(1, 600, 1)
    old = batch.NEAREST_MIN, batch.NEAREST_SHARE
    try:
        batch.NEAREST_MIN, batch.NEAREST_SHARE = 3, 0.5
        high = batch.take_nearest(pool, fitted, np.array([[5.05]]), U)
        low = batch.take_nearest(pool, fitted, np.array([[0.0]]), U)
    finally:
        batch.NEAREST_MIN, batch.NEAREST_SHARE = old
    assert set(np.unique(high)) == {-0.1, 0.1, 0.2}
    assert set(np.unique(low)) == {-2.0, 2.0, -1.5}


def test_a_pool_under_the_minimum_is_resampled_whole():
    pool = np.arange(10, dtype=float)[None, :]
    U = np.linspace(0, 0.999, 1000).reshape(1, 1000, 1)
    out = batch.take_nearest(pool, pool, np.array([[9.0]]), U)
    assert set(np.unique(out)) == set(range(10))
