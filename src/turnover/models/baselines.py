"""Baselines every model must beat: seasonal naive and a moving average.

Quantiles: the point forecast plus residuals resampled from the method's own in-sample errors
(seasonal differences for seasonal naive, one-step errors for the moving average), clipped at zero.
"""

from __future__ import annotations

import numpy as np

from turnover.models.base import DemandModel


class SeasonalNaive(DemandModel):
    """Next year's period = this year's same period (plus resampled seasonal differences)."""

    def __init__(self, season_length: int = 52):
        self.season_length = season_length

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.season_length + 2

    def _fit(self, y: np.ndarray) -> None:
        m = self.season_length
        self.last_season_ = y[-m:].copy()
        self.residuals_ = y[m:] - y[:-m]

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        point = np.resize(self.last_season_, horizon)
        return point + rng.choice(self.residuals_, size=(n_paths, horizon), replace=True)


class MovingAverage(DemandModel):
    """The mean of the last ``window`` periods, flat over the horizon."""

    min_history = 2

    def __init__(self, window: int = 13):
        self.window = window

    def _fit(self, y: np.ndarray) -> None:
        w = min(self.window, len(y) - 1)
        self.level_ = float(y[-w:].mean())
        # One-step errors of the same rule over the history: y_t minus the mean of the w before it.
        means = np.convolve(y, np.ones(w) / w, mode="valid")[:-1]
        self.residuals_ = y[w:] - means

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return self.level_ + rng.choice(self.residuals_, size=(n_paths, horizon), replace=True)
