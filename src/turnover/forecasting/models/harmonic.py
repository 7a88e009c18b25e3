"""Dynamic harmonic regression: a smooth yearly profile (Fourier terms) plus a smoothed level.

Weekly data has 52 seasonal positions but a pharmacy has only a few years of them: a seasonal
state per week (Holt-Winters with season 52) chases last year's noise. A yearly profile of K sine /
cosine pairs needs 2K numbers instead of 52, and K is chosen by BIC from 0 (no season: a chronic
drug stays flat) to ``max_harmonics`` (Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, 3rd ed., sec. 10.5 and 12.1, "dynamic harmonic regression").

Fitting, on ``z = log1p(y)`` (multiplicative seasonality, zeros allowed):
1. OLS of ``z`` on an intercept, a linear drift and K Fourier pairs with period 365.25 / 7 weeks
   (or 12 months); the drift only keeps level changes out of the profile.
2. The de-seasonalised ``z - profile`` gets simple exponential smoothing.
Quantiles: the level model is simulated forward with bootstrapped residuals, the profile added,
and ``expm1`` taken path by path. The arithmetic is in :mod:`turnover.forecasting.models.batch` (these classes
are its one-row case).
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.base import BatchBacked
from turnover.forecasting.models.batch import BorrowedProfileBatch, HarmonicBatch
from turnover.forecasting.models.profiles import MAX_HARMONICS, YEAR_IN_PERIODS, Profiles, fourier_terms

__all__ = ["MAX_HARMONICS", "YEAR_IN_PERIODS", "DynamicHarmonic", "ProfileSmoothing", "Profiles", "fit_yearly_profile",
           "fourier_terms"]


def fit_yearly_profile(z: np.ndarray, period: float, max_harmonics: int, origin: int = 0) -> Profiles:
    """The one-row profile of ``z`` (K pairs by BIC); ``origin`` is the absolute period index of ``z[0]``."""
    return Profiles(period, max_harmonics).fit(np.asarray(z, dtype=float)[None, :], origin)


class DynamicHarmonic(BatchBacked):
    """Fourier yearly profile (K by BIC) + exponential smoothing of the level, on ``log1p(y)``."""

    def __init__(self, season_length: int = 52, max_harmonics: int = MAX_HARMONICS):
        self.season_length = season_length
        self.max_harmonics = max_harmonics

    def batch(self) -> HarmonicBatch:
        return HarmonicBatch(self.season_length, self.max_harmonics)


class ProfileSmoothing(BatchBacked):
    """A borrowed yearly profile + exponential smoothing of the level, on ``log1p(y)``.

    For a new item: it has too little history to learn its own season, so it takes the profile its
    siblings (the same drug at other locations) share, fitted on absolute period indices, and
    learns only its own level. ``origin`` is the absolute index of the history's first period.
    """

    def __init__(self, profile: Profiles, origin: int):
        self.profile = profile
        self.origin = origin

    def batch(self) -> BorrowedProfileBatch:
        return BorrowedProfileBatch(self.profile, np.array([self.origin]))
