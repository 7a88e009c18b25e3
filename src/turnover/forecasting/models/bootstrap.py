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

from turnover.forecasting.models.base import BatchBacked
from turnover.forecasting.models.batch import BootstrapBatch, NoHistoryBatch


class EmpiricalBootstrap(BatchBacked):
    """Resample the last ``window`` periods with replacement."""

    def __init__(self, window: int = 26):
        self.window = window

    def batch(self) -> BootstrapBatch:
        return BootstrapBatch(self.window)


class NoHistory(BatchBacked):
    """No dispensing to learn from: zero demand (the policy then applies the catalog minimum)."""

    def batch(self) -> NoHistoryBatch:
        return NoHistoryBatch()
