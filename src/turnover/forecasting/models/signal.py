"""Demand driven by an external weekly signal (flu activity for antivirals).

log1p(y_t) = level_t + beta * log1p(x_t) + e_t, with x the signal (CDC ILINet % weighted ILI for
oseltamivir), beta by OLS (with an intercept and drift), and the level smoothed (statsmodels SES) on
what the signal leaves. The signal's future is itself forecast: its yearly profile (Fourier, K by
BIC, absolute period indices) plus the latest anomaly, decaying as an AR(1):

    x_{T+h} = profile(T+h) + phi^h (x_T - profile(T))

So a season that starts early (ILI already above its usual level for the week) lifts the demand
forecast weeks before the usual seasonal ramp: what a seasonal profile alone would miss. Paths:
the level model simulated with resampled residuals, plus beta times the forecast signal.
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.base import DemandModel
from turnover.forecasting.models.batch import SES
from turnover.forecasting.models.harmonic import fit_yearly_profile
from turnover.forecasting.models.profiles import MAX_HARMONICS, YEAR_IN_PERIODS


class SignalRegression(DemandModel):
    """Demand on ``log1p`` regressed on an external signal, level smoothed; ``signal`` maps absolute
    period index -> value and must cover the history (``origin`` = index of the first period)."""

    min_history = 26

    def __init__(self, signal: dict[int, float], origin: int, season_length: int = 52):
        self.signal = signal
        self.origin = origin
        self.season_length = season_length

    def _signal(self, indices: np.ndarray) -> np.ndarray:
        return np.array([self.signal.get(int(i), np.nan) for i in indices], dtype=float)

    def _fit(self, y: np.ndarray) -> None:
        n = len(y)
        index = self.origin + np.arange(n)
        self._fit_signal(index[-1])
        # The weeks at the end not yet published (a signal comes out days after its week ends) take the
        # signal's own forecast; the regression is fitted on the weeks that were published.
        x = np.log1p(self._signal(index))
        if np.isnan(x).mean() > 0.1:
            raise ValueError("SignalRegression: the signal misses more than 10% of the history")
        late = index > self.last_index_
        x[late] = self._signal_path(index[late])
        observed = ~np.isnan(x) & ~late
        x = np.where(np.isnan(x), np.nanmean(x), x)
        z = np.log1p(y)
        design = np.column_stack([np.ones(n), np.arange(n) / n, x])
        coef, *_ = np.linalg.lstsq(design[observed], z[observed], rcond=None)
        self.beta_ = max(float(coef[2]), 0.0)  # more flu never means fewer antivirals
        self.level_ = SES().fit(z - self.beta_ * x, self.beta_ * x)
        self.history_end_ = int(index[-1])

    def _fit_signal(self, end: int) -> None:
        """The signal's own future: yearly profile + decaying anomaly, fitted on its record up to its last
        published period at or before ``end`` (gaps, such as an unreported summer, filled by interpolation)."""
        known = [i for i in self.signal if i <= end]
        if not known:
            raise ValueError("SignalRegression: no signal published by the end of the history")
        span = np.arange(min(known), max(known) + 1)
        xs = np.log1p(self._signal(span))
        xs = np.interp(span, span[~np.isnan(xs)], xs[~np.isnan(xs)])
        period = YEAR_IN_PERIODS.get(self.season_length, float(self.season_length))
        self.signal_profile_ = fit_yearly_profile(xs, period, MAX_HARMONICS, origin=int(span[0]))
        anomaly = self.signal_profile_.residual_[0]
        self.phi_ = float(np.clip(np.corrcoef(anomaly[:-1], anomaly[1:])[0, 1], 0.0, 0.98)) if len(anomaly) > 3 else 0.0
        self.last_index_, self.last_anomaly_ = int(span[-1]), float(anomaly[-1])
        # the intercept-and-drift part at the last published period, held flat after it
        self.signal_base_ = float(xs[-1] - anomaly[-1] - self.signal_profile_.at(np.array([span[-1] - span[0]]))[0, 0])

    def _signal_path(self, indices: np.ndarray) -> np.ndarray:
        """Forecast of ``log1p(signal)`` at absolute period ``indices`` after the last published one."""
        decay = self.phi_ ** (indices - self.last_index_)
        return self.signal_base_ + self.signal_profile_.at(indices - self.signal_profile_.origin_[0])[0] + \
            decay * self.last_anomaly_

    def signal_forecast(self, horizon: int) -> np.ndarray:
        """Forecast of ``log1p(signal)`` for the ``horizon`` periods after the history."""
        return self._signal_path(self.history_end_ + np.arange(1, horizon + 1))

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        future = self.beta_ * self.signal_forecast(horizon)[None, :]
        return np.expm1(self.level_.sample_paths(rng.random((1, n_paths, horizon)), future)[0])
