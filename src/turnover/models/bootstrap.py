"""Empirical bootstrap of recent periods: the model for slow, intermittent and short series.

Each future period's demand is drawn with replacement from the last ``window`` observed periods,
zeros included. For intermittent demand this is the core of Willemain, Smart & Schwarz (2004),
"A new approach to forecasting intermittent demand for service parts inventories", *International
Journal of Forecasting* 20(3): it keeps the real sizes of orders (a box of 30, never 2.7 tablets)
and the real share of zero periods, which a normal approximation of lead-time demand does not.
Simplification, stated: periods are drawn independently (no Markov chain on zero / non-zero, no
jitter of sizes).
"""

from __future__ import annotations

import numpy as np

from turnover.models.base import DemandModel


class EmpiricalBootstrap(DemandModel):
    """Resample the last ``window`` periods with replacement."""

    min_history = 1

    def __init__(self, window: int = 26):
        self.window = window

    def _fit(self, y: np.ndarray) -> None:
        self.recent_ = y[-self.window :].copy()

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.recent_, size=(n_paths, horizon), replace=True)


class NoHistory(DemandModel):
    """No dispensing to learn from: zero demand (the policy then applies the catalog minimum)."""

    min_history = 0

    def _fit(self, y: np.ndarray) -> None:
        self.level_ = 0.0

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return np.zeros((n_paths, horizon))
