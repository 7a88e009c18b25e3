"""Exponential smoothing (statsmodels), fitted on ``log1p`` of demand.

Why the log: drug demand varies in proportion to its level (a flu season multiplies oseltamivir
demand rather than adding a constant), and zeros are common. Additive Holt-Winters on
``log(1 + y)`` behaves like a multiplicative model, accepts zeros, and back-transformed paths are
never negative.

Quantiles: statsmodels simulates the fitted state-space recursion forward with errors drawn from the
model's own in-sample residuals (``random_errors="bootstrap"``), so uncertainty grows with the
horizon as the model implies, without assuming normal errors (Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, 3rd ed., section 5.5, "prediction intervals from bootstrapped residuals").
Means and quantiles are taken after ``expm1``, which avoids the retransformation bias of ``expm1``
of a log-scale mean.
"""

from __future__ import annotations

import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from turnover.forecasting.models.base import BatchBacked, DemandModel
from turnover.forecasting.models.batch import BURN_IN, ExpSmoothingBatch


def simulate_log_paths(result, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """Paths of a fitted statsmodels exponential smoothing (Holt-Winters) on the log scale, shape (n_paths, horizon),
    driven by errors resampled from its in-sample residuals after a burn-in."""
    residuals = np.asarray(result.resid, dtype=float)
    pool = residuals[min(BURN_IN, len(residuals) // 4) :]
    errors = rng.choice(pool, size=(horizon, n_paths), replace=True)
    sims = result.simulate(horizon, repetitions=n_paths, error="add", random_errors=errors)
    return np.asarray(sims).reshape(horizon, n_paths).T


class HoltWinters(DemandModel):
    """Additive-seasonal exponential smoothing, no trend, on ``log1p(y)``; needs two full seasons."""

    def __init__(self, season_length: int = 52):
        self.season_length = season_length

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return 2 * self.season_length

    def _fit(self, y: np.ndarray) -> None:
        model = ExponentialSmoothing(
            np.log1p(y), trend=None, seasonal="add", seasonal_periods=self.season_length,
            initialization_method="estimated",
        )
        self.result_ = model.fit()

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return np.expm1(simulate_log_paths(self.result_, horizon, n_paths, rng))


class ExpSmoothing(BatchBacked):
    """Simple exponential smoothing (level only) on ``log1p(y)``: the non-seasonal fallback
    (:class:`turnover.forecasting.models.batch.ExpSmoothingBatch` with one row)."""

    def batch(self) -> ExpSmoothingBatch:
        return ExpSmoothingBatch()
