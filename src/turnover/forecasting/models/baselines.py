"""Baselines every model must beat: seasonal naive and a moving average.

Quantiles: the point forecast plus residuals resampled from the method's own in-sample errors
(seasonal differences for seasonal naive, one-step errors for the moving average), clipped at zero.
"""

from __future__ import annotations

from turnover.forecasting.models.base import BatchBacked
from turnover.forecasting.models.batch import MovingAverageBatch, SeasonalNaiveBatch


class SeasonalNaive(BatchBacked):
    """Next year's period = this year's same period (plus resampled seasonal differences)."""

    def __init__(self, season_length: int = 52):
        self.season_length = season_length

    def batch(self) -> SeasonalNaiveBatch:
        return SeasonalNaiveBatch(self.season_length)


class MovingAverage(BatchBacked):
    """The mean of the last ``window`` periods, flat over the horizon."""

    def __init__(self, window: int = 13):
        self.window = window

    def batch(self) -> MovingAverageBatch:
        return MovingAverageBatch(self.window)
