"""Croston with the Syntetos-Boylan correction, and TSB, for slow and intermittent movers.

- Croston (1972) smooths the non-zero sizes z and the intervals p between them with the same alpha;
  SBA (Syntetos & Boylan 2005) removes Croston's bias: rate = (1 - alpha / 2) z / p.
- TSB (Teunter, Syntetos & Babai 2011) smooths the probability of a non-zero period every period
  (beta) and the size on non-zero periods (alpha): rate = p z. Its p decays while a drug goes
  unused, which suits obsolescence.
Smoothing constants are fixed at the common 0.1 (stated, not optimised).

Quantiles: each future period is non-zero with the method's probability, and its size is drawn from
the series' own non-zero sizes, rescaled so the mean matches the method's rate. The arithmetic is in
:mod:`turnover.forecasting.models.batch` (these classes are its one-row case). The real pack-shaped
sizes survive, which a normal or Poisson approximation in units does not keep.
"""

from __future__ import annotations

from turnover.forecasting.models.base import BatchBacked
from turnover.forecasting.models.batch import CrostonSBABatch, TSBBatch


class CrostonSBA(BatchBacked):
    """Croston's method with the Syntetos-Boylan bias correction."""

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def batch(self) -> CrostonSBABatch:
        return CrostonSBABatch(self.alpha)


class TSB(BatchBacked):
    """Teunter-Syntetos-Babai: smoothed probability of use times smoothed size."""

    def __init__(self, alpha: float = 0.1, beta: float = 0.1):
        self.alpha = alpha
        self.beta = beta

    def batch(self) -> TSBBatch:
        return TSBBatch(self.alpha, self.beta)
