"""Croston with the Syntetos-Boylan correction, and TSB, for slow and intermittent movers.

- Croston (1972) smooths the non-zero sizes z and the intervals p between them with the same alpha;
  SBA (Syntetos & Boylan 2005) removes Croston's bias: rate = (1 - alpha / 2) z / p.
- TSB (Teunter, Syntetos & Babai 2011) smooths the probability of a non-zero period every period
  (beta) and the size on non-zero periods (alpha): rate = p z. Its p decays while a drug goes
  unused, which suits obsolescence.
Smoothing constants are fixed at the common 0.1 (stated, not optimised).

Quantiles: each future period is non-zero with the method's probability, and its size is drawn from
the series' own non-zero sizes, rescaled so the mean matches the method's rate. The real pack-shaped
sizes survive, which a normal or Poisson approximation in units does not keep.
"""

from __future__ import annotations

import numpy as np

from turnover.models.base import DemandModel


def _smooth(values: np.ndarray, alpha: float) -> float:
    level = float(values[0])
    for v in values[1:]:
        level += alpha * (float(v) - level)
    return level


class _SizeOccurrence(DemandModel):
    """Paths from a per-period probability of use and a mean size (set by ``_fit``)."""

    min_history = 1
    probability_: float
    size_: float
    sizes_: np.ndarray

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        if self.probability_ <= 0 or len(self.sizes_) == 0:
            return np.zeros((n_paths, horizon))
        used = rng.random((n_paths, horizon)) < self.probability_
        sizes = rng.choice(self.sizes_, size=(n_paths, horizon), replace=True) * (self.size_ / self.sizes_.mean())
        return used * sizes


class CrostonSBA(_SizeOccurrence):
    """Croston's method with the Syntetos-Boylan bias correction."""

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def _fit(self, y: np.ndarray) -> None:
        where = np.flatnonzero(y > 0)
        self.sizes_ = y[where]
        if len(where) == 0:
            self.probability_, self.size_ = 0.0, 0.0
            return
        intervals = np.diff(np.r_[-1, where])
        interval = max(_smooth(intervals, self.alpha), 1.0)
        self.size_ = _smooth(self.sizes_, self.alpha) * (1 - self.alpha / 2)
        self.probability_ = 1.0 / interval


class TSB(_SizeOccurrence):
    """Teunter-Syntetos-Babai: smoothed probability of use times smoothed size."""

    def __init__(self, alpha: float = 0.1, beta: float = 0.1):
        self.alpha = alpha
        self.beta = beta

    def _fit(self, y: np.ndarray) -> None:
        self.sizes_ = y[y > 0]
        self.probability_ = float(np.clip(_smooth((y > 0).astype(float), self.beta), 0.0, 1.0))
        self.size_ = _smooth(self.sizes_, self.alpha) if len(self.sizes_) else 0.0
