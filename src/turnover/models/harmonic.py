"""Dynamic harmonic regression: a smooth yearly profile (Fourier terms) plus a smoothed level.

Weekly data has 52 seasonal positions but a pharmacy has only a few years of them: a seasonal
state per week (Holt-Winters with season 52) chases last year's noise. A yearly profile of K sine /
cosine pairs needs 2K numbers instead of 52, and K is chosen by BIC from 0 (no season: a chronic
drug stays flat) to ``max_harmonics`` (Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, 3rd ed., sec. 10.5 and 12.1, "dynamic harmonic regression").

Fitting, on ``z = log1p(y)`` (multiplicative seasonality, zeros allowed):
1. OLS of ``z`` on an intercept, a linear drift and K Fourier pairs with period 365.25 / 7 weeks
   (or 12 months); the drift only keeps level changes out of the profile.
2. The de-seasonalised ``z - profile`` gets simple exponential smoothing (statsmodels).
Quantiles: the level model is simulated forward with bootstrapped residuals, the profile added,
and ``expm1`` taken path by path, as in :mod:`turnover.models.exponential_smoothing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from turnover.models.base import DemandModel
from turnover.models.exponential_smoothing import simulate_log_paths, smooth_level

YEAR_IN_PERIODS = {52: 365.25 / 7, 12: 12.0}
MAX_HARMONICS = 6  # up to six sine/cosine pairs: enough for a peak a few weeks wide


def fourier_terms(t: np.ndarray, period: float, harmonics: int) -> np.ndarray:
    """``[sin(2 pi k t / period), cos(2 pi k t / period)]`` for k = 1..harmonics, shape (len(t), 2K)."""
    if harmonics == 0:
        return np.empty((len(t), 0))
    angles = 2 * np.pi * np.outer(t, np.arange(1, harmonics + 1)) / period
    return np.hstack([np.sin(angles), np.cos(angles)])


@dataclass(frozen=True)
class YearlyProfile:
    """A yearly profile fitted by OLS on ``z``: K Fourier pairs chosen by BIC, plus intercept and drift."""

    period: float
    harmonics: int
    coef: np.ndarray  # the 2K Fourier coefficients
    residual: np.ndarray  # z minus the fitted intercept, drift and profile

    def at(self, t: np.ndarray) -> np.ndarray:
        return fourier_terms(np.asarray(t, dtype=float), self.period, self.harmonics) @ self.coef

    def strength(self, origin: int = 0) -> float:
        """max(0, 1 - Var(R) / Var(S + R)) over the fitted span (FPP3 sec. 4.3), S the profile."""
        season = self.at(origin + np.arange(len(self.residual)))
        total = np.var(season + self.residual)
        return float(max(0.0, 1 - np.var(self.residual) / total)) if total > 0 else 0.0


def fit_yearly_profile(z: np.ndarray, period: float, max_harmonics: int, origin: int = 0) -> YearlyProfile:
    """OLS of ``z`` on intercept, linear drift and K Fourier pairs, K in 0..max_harmonics by BIC.

    ``origin`` is the absolute period index of ``z[0]``; the profile's ``at`` then takes absolute
    indices too (``residual`` stays indexed from 0).
    """
    n = len(z)
    t = np.arange(n, dtype=float)
    base = np.column_stack([np.ones(n), t / n])
    best = None
    for k in range(max_harmonics + 1):
        design = np.hstack([base, fourier_terms(t + origin, period, k)])
        coef, *_ = np.linalg.lstsq(design, z, rcond=None)
        residual = z - design @ coef
        bic = n * np.log(max(float(residual @ residual), 1e-12) / n) + design.shape[1] * np.log(n)
        if best is None or bic < best[0]:
            best = (bic, YearlyProfile(period, k, coef[2:], residual))
    return best[1]


class DynamicHarmonic(DemandModel):
    """Fourier yearly profile (K by BIC) + exponential smoothing of the level, on ``log1p(y)``."""

    def __init__(self, season_length: int = 52, max_harmonics: int = MAX_HARMONICS):
        self.season_length = season_length
        self.max_harmonics = max_harmonics

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.season_length + 1

    def _fit(self, y: np.ndarray) -> None:
        z = np.log1p(y)
        period = YEAR_IN_PERIODS.get(self.season_length, float(self.season_length))
        self.profile_ = fit_yearly_profile(z, period, min(self.max_harmonics, self.season_length // 2))
        self.level_ = smooth_level(z - self.profile_.at(np.arange(len(z))))

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        future = self.profile_.at(np.arange(self.n_obs_, self.n_obs_ + horizon))
        return np.expm1(simulate_log_paths(self.level_, horizon, n_paths, rng) + future)


def average_profile(profiles: list[YearlyProfile]) -> YearlyProfile:
    """The mean of profiles fitted on absolute indices (the mean of their Fourier coefficients)."""
    k = max(p.harmonics for p in profiles)
    padded = []
    for p in profiles:
        sin, cos = np.zeros(k), np.zeros(k)
        sin[: p.harmonics], cos[: p.harmonics] = p.coef[: p.harmonics], p.coef[p.harmonics :]
        padded.append(np.r_[sin, cos])
    return YearlyProfile(profiles[0].period, k, np.mean(padded, axis=0), np.empty(0))


class ProfileSmoothing(DemandModel):
    """A borrowed yearly profile + exponential smoothing of the level, on ``log1p(y)``.

    For a new item: it has too little history to learn its own season, so it takes the profile its
    siblings (the same drug at other locations) share, fitted on absolute period indices, and
    learns only its own level. ``origin`` is the absolute index of the history's first period.
    """

    min_history = 4

    def __init__(self, profile: YearlyProfile, origin: int):
        self.profile = profile
        self.origin = origin

    def _fit(self, y: np.ndarray) -> None:
        self.level_ = smooth_level(np.log1p(y) - self.profile.at(self.origin + np.arange(len(y))))

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        future = self.profile.at(self.origin + np.arange(self.n_obs_, self.n_obs_ + horizon))
        return np.expm1(simulate_log_paths(self.level_, horizon, n_paths, rng) + future)
