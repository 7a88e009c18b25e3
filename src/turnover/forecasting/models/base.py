"""The contract every demand model keeps (scikit-learn style).

Settings go in ``__init__`` with no logic; ``fit(y)`` validates, calls ``_fit`` and returns ``self``;
fitted state ends in ``_``. A fitted model draws ``sample_paths``: simulated future demand, one row
per path and one column per period, never negative. Quantiles of any period, and of any sum of
periods (the demand over a lead time), are read off the same paths, so they are consistent.
"""

from __future__ import annotations

import numpy as np


class NotFittedError(RuntimeError):
    """``sample_paths`` or ``predict`` was called before ``fit``."""


class DemandModel:
    """Base class: validation and the public methods; subclasses implement ``_fit`` and ``_sample``."""

    #: fewest observations the model accepts
    min_history: int = 1

    def fit(self, y: np.ndarray) -> DemandModel:
        """Fit on a history of per-period demand in units (oldest first, non-negative, finite)."""
        y = np.asarray(y, dtype=float)
        if y.ndim != 1:
            raise ValueError(f"{type(self).__name__}: history must be one-dimensional, got shape {y.shape}")
        if len(y) < self.min_history:
            raise ValueError(f"{type(self).__name__}: needs at least {self.min_history} periods, got {len(y)}")
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            raise ValueError(f"{type(self).__name__}: history must be finite and non-negative")
        self._fit(y)
        self.n_obs_ = len(y)
        return self

    def sample_paths(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        """Simulated demand, shape ``(n_paths, horizon)``, in units, never negative."""
        if not hasattr(self, "n_obs_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        paths = np.asarray(self._sample(horizon, n_paths, rng), dtype=float)
        return np.clip(np.nan_to_num(paths, nan=0.0, posinf=0.0), 0.0, None)

    def predict(self, horizon: int, n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Mean demand per period over ``horizon`` periods (the mean of the sample paths)."""
        return self.sample_paths(horizon, n_paths, np.random.default_rng(seed)).mean(axis=0)

    def _fit(self, y: np.ndarray) -> None:
        raise NotImplementedError

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class BatchBacked(DemandModel):
    """A per-series model that is its batch model (:mod:`turnover.forecasting.models.batch`) with one row: one
    implementation whether a series is fitted alone or in a batch of thousands."""

    def batch(self):
        """A fresh, unfitted batch model with this model's settings."""
        raise NotImplementedError

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.batch().min_history

    def _fit(self, y: np.ndarray) -> None:
        self.batch_ = self.batch().fit(y[None, :])

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return self.batch_.sample_paths(rng.random((1, n_paths, horizon)))[0]
