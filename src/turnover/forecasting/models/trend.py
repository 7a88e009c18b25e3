"""Damped-trend exponential smoothing (Gardner & McKenzie 1985) on ``log1p(y)``, fitted on a batch of series.

A level and a trend that fades: the forecast ``h`` periods ahead is ``l_T + (phi + ... + phi^h) b_T``, so a
growing or dying series (a product being listed, a policy change working through, a generic replacing a
brand) is followed for a while and then levels off, instead of being held flat (SES) or extrapolated for ever
(Holt). It is the model ETS chooses most often on monthly data (Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, 3rd ed., section 8.2: "one of the most successful ... for automatic forecasting").

State equations, one-step error ``e_t = z_t - (l_{t-1} + phi b_{t-1})``:

    l_t = l_{t-1} + phi b_{t-1} + alpha e_t
    b_t = phi b_{t-1} + beta e_t

The smoothing weights minimise the one-step squared error over a grid (alpha by 0.05, beta a share of alpha,
phi in 0.8 .. 0.98 as ETS bounds it), every series of the batch at once; the level starts at the mean of the
first periods and the trend at their least-squares slope. Paths propagate in-sample residuals (after a burn-in)
through the same equations, as :class:`~turnover.forecasting.models.batch.SES` does.
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.base import BatchBacked
from turnover.forecasting.models.batch import BURN_IN, BatchModel, HarmonicBatch, take_nearest
from turnover.forecasting.models.profiles import MAX_HARMONICS

_ALPHAS = np.linspace(0.05, 1.0, 20)
_BETA_SHARES = np.array([0.0, 0.05, 0.1, 0.2])  # beta = share x alpha: a trend that follows slowly (beta <= alpha)
_PHIS = np.array([0.8, 0.9, 0.95, 0.98])
_GRID = np.array([(a, s * a, p) for a in _ALPHAS for s in _BETA_SHARES for p in _PHIS])  # candidates x 3


def _start(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Initial level and trend per row: the mean and least-squares slope of the first periods, the level moved
    back to the period before the first."""
    m = min(max(BURN_IN, 4), Z.shape[1])
    t = np.arange(m) - (m - 1) / 2
    slope = (Z[:, :m] * t).sum(axis=1) / max(float((t * t).sum()), 1.0)
    return Z[:, :m].mean(axis=1) - slope * (m + 1) / 2, slope


def _run(Z: np.ndarray, level: np.ndarray, trend: np.ndarray, alpha, beta, phi, skip: int = 0, keep: bool = False):
    """Filter every row through the equations (``alpha``, ``beta``, ``phi`` broadcast against ``level``): the
    final level and trend, the squared one-step errors summed after the first ``skip`` periods, and (``keep``)
    the errors themselves, periods last."""
    level, trend = level.copy(), trend.copy()
    sse = np.zeros(level.shape)
    errors = np.empty((*level.shape, Z.shape[1])) if keep else None
    for t in range(Z.shape[1]):
        damped = phi * trend
        error = Z[:, t].reshape((-1,) + (1,) * (level.ndim - 1)) - (level + damped)
        if t >= skip:
            sse += error * error
        if errors is not None:
            errors[..., t] = error
        level = level + damped + alpha * error
        trend = damped + beta * error
    return level, trend, sse, errors


class DampedLevel:
    """Damped-trend smoothing of each row of ``Z`` (already on the log scale): what SES is to the other models."""

    def fit(self, Z: np.ndarray, offset: np.ndarray | float = 0.0) -> DampedLevel:
        """Fit on ``Z``; ``offset`` as :class:`~turnover.forecasting.models.batch.SES` takes it (what was taken out of the
        log-scale series: ``fitted_`` puts it back)."""
        level0, trend0 = _start(Z)
        n_grid = len(_GRID)
        alpha, beta, phi = (_GRID[None, :, k] for k in range(3))
        skip = min(BURN_IN, Z.shape[1] // 4)
        *_, sse, _ = _run(Z, np.repeat(level0[:, None], n_grid, 1), np.repeat(trend0[:, None], n_grid, 1),
                          alpha, beta, phi, skip)
        best = np.argmin(sse, axis=1)
        self.alpha_, self.beta_, self.phi_ = (_GRID[best, k] for k in range(3))
        self.level_, self.trend_, _, self.resid_ = _run(Z, level0, trend0, self.alpha_, self.beta_, self.phi_, keep=True)
        self.fitted_ = Z - self.resid_ + offset
        return self

    def sample_paths(self, U: np.ndarray, future: np.ndarray | None = None) -> np.ndarray:
        """Log-scale paths driven by in-sample residuals (after a burn-in) through the state equations, each
        period's drawn from the periods fitted nearest its expected level (``take_nearest``); ``future``
        (rows x horizon) is the offset ahead, added to the paths (zero by default)."""
        skip = min(BURN_IN, self.resid_.shape[1] // 4)
        future = np.zeros((len(self.level_), U.shape[2])) if future is None else future
        steps = np.cumsum(self.phi_[:, None] ** np.arange(1, U.shape[2] + 1), axis=1)  # phi + ... + phi^h
        centers = self.level_[:, None] + steps * self.trend_[:, None] + future
        errors = take_nearest(self.resid_[:, skip:], self.fitted_[:, skip:], centers, U)
        alpha, beta, phi = (v[:, None] for v in (self.alpha_, self.beta_, self.phi_))
        level = np.repeat(self.level_[:, None], U.shape[1], axis=1)
        trend = np.repeat(self.trend_[:, None], U.shape[1], axis=1)
        Z = np.empty(U.shape)
        for h in range(U.shape[2]):
            damped = phi * trend
            Z[:, :, h] = level + damped + errors[:, :, h]
            level = level + damped + alpha * errors[:, :, h]
            trend = damped + beta * errors[:, :, h]
        return Z + future[:, None, :]


class DampedTrendBatch(BatchModel):
    """Damped-trend exponential smoothing of ``log1p(y)``, paths back-transformed with ``expm1`` path by path."""

    min_history = 8

    def _fit(self, Y: np.ndarray) -> None:
        self.level_ = DampedLevel().fit(np.log1p(Y))

    def _sample(self, U: np.ndarray) -> np.ndarray:
        return np.expm1(self.level_.sample_paths(U))


class HarmonicTrendBatch(HarmonicBatch):
    """A Fourier yearly profile (K by BIC, as ``dynamic_harmonic``) + a damped-trend level, on ``log1p(y)``: additive
    season and damped trend, ETS(A, Ad, A) in spirit, for seasonal series that also grow or decline."""

    level_model = DampedLevel

    def __init__(self, season_length: int = 12, max_harmonics: int = MAX_HARMONICS):
        super().__init__(season_length, max_harmonics)


class DampedTrend(BatchBacked):
    """Damped-trend exponential smoothing on ``log1p(y)`` for one series (:class:`DampedTrendBatch`, one row)."""

    def batch(self) -> DampedTrendBatch:
        return DampedTrendBatch()


class HarmonicTrend(BatchBacked):
    """Yearly profile + damped-trend level on ``log1p(y)`` for one series (:class:`HarmonicTrendBatch`, one row)."""

    def __init__(self, season_length: int = 12, max_harmonics: int = MAX_HARMONICS):
        self.season_length = season_length
        self.max_harmonics = max_harmonics

    def batch(self) -> HarmonicTrendBatch:
        return HarmonicTrendBatch(self.season_length, self.max_harmonics)
