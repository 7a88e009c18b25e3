"""Demand classes per series: Syntetos-Boylan, seasonality strength, lifecycle.

- **Syntetos-Boylan** (Syntetos, Boylan & Croston 2005, *J. Oper. Res. Soc.* 56(5)): ADI = periods /
  non-zero periods, CV^2 = squared coefficient of variation of the non-zero sizes, over the last two
  years. Cut-offs ADI 1.32 and CV^2 0.49: smooth (ADI < 1.32, CV^2 < 0.49), erratic (ADI < 1.32,
  CV^2 >= 0.49), intermittent (ADI >= 1.32, CV^2 < 0.49), lumpy (both high); ``none`` without use.
- **Seasonality strength** F_S = max(0, 1 - Var(R) / Var(S + R)) (Hyndman & Athanasopoulos, *FPP3*,
  sec. 4.3), with S the yearly Fourier profile of ``log1p(units)`` (K pairs by BIC, as the
  ``dynamic_harmonic`` model fits it) and R what the profile, level and drift leave. An STL
  seasonal component was tried first: with three years of weekly data its week-of-year smoother has
  three points each and reads noise as season (F_S = 0.38 on pure Poisson noise); the BIC profile
  gives 0 there. NaN with under two years of history.
- **Lifecycle**: ``new`` (under 9 months of history), ``dead`` (no use in the last 4 months: no
  reorder), ``recurring`` (used in at least 8 of the last 12 months), ``sporadic`` (the rest).
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.batch import by_length
from turnover.forecasting.models.profiles import MAX_HARMONICS, YEAR_IN_PERIODS, Profiles

ADI_CUTOFF, CV2_CUTOFF = 1.32, 0.49
PERIODS_PER_MONTH = {52: 52 / 12, 12: 1.0}


def syntetos_boylan(y: np.ndarray) -> tuple[float, float, str]:
    """(ADI, CV^2, class) of a demand history (use the last two years): :func:`syntetos_boylan_rows`, one row."""
    adi, cv2, label = syntetos_boylan_rows(np.asarray(y, dtype=float)[None, :])
    return float(adi[0]), float(cv2[0]), str(label[0])


def syntetos_boylan_rows(recent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ADI, CV^2 of the non-zero sizes, and class, of each row of ``recent`` (equal lengths)."""
    used = recent > 0
    count = used.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(used, recent, 0.0).sum(axis=1) / count
        variance = np.where(used, (recent - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
        cv2 = np.where(count > 1, variance / mean**2, np.where(count == 1, 0.0, np.nan))
        adi = np.where(count > 0, recent.shape[1] / np.maximum(count, 1), np.inf)
    low_cv = cv2 < CV2_CUTOFF
    label = np.where(count == 0, "none", np.where(adi < ADI_CUTOFF, np.where(low_cv, "smooth", "erratic"),
                                                   np.where(low_cv, "intermittent", "lumpy")))
    return adi, cv2, label


def seasonality_strength(y: np.ndarray, season_length: int) -> float:
    """Strength of the yearly profile of ``log1p(y)`` in [0, 1]; NaN under two full seasons."""
    return float(seasonality_strengths([y], season_length)[0])


def seasonality_strengths(histories: list[np.ndarray], season_length: int) -> np.ndarray:
    """:func:`seasonality_strength` of every history, the profiles of equal-length ones fitted together."""
    out = np.full(len(histories), np.nan)
    period = YEAR_IN_PERIODS.get(season_length, float(season_length))
    seasonal = [i for i, y in enumerate(histories) if len(y) >= 2 * season_length and np.any(y > 0)]
    for rows in by_length(histories, seasonal).values():
        Z = np.log1p(np.vstack([histories[i] for i in rows]))
        out[rows] = Profiles(period, MAX_HARMONICS).fit(Z).strength()
    return out


def lifecycle(y: np.ndarray, season_length: int) -> str:
    """``new``, ``dead``, ``recurring`` or ``sporadic`` (see the module docstring): :func:`lifecycle_rows`, one row."""
    return str(lifecycle_rows(np.asarray(y, dtype=float)[None, :], season_length)[0])


def lifecycle_rows(Y: np.ndarray, season_length: int) -> np.ndarray:
    """The lifecycle of each row of ``Y`` (equal lengths)."""
    per_month = PERIODS_PER_MONTH.get(season_length, season_length / 12)
    if Y.shape[1] < 9 * per_month:
        return np.full(len(Y), "new", dtype=object)
    last_year = Y[:, -season_length:] > 0
    # the year in 12 near-equal blocks (as np.array_split): used in how many of them (a monthly history of 9 to 11
    # months has that many blocks, and the 8-of-12 rule scales with them)
    length = last_year.shape[1]
    blocks = min(12, length)
    bounds = np.r_[0, np.cumsum([length // blocks + (k < length % blocks) for k in range(blocks)])][:-1]
    months_used = np.count_nonzero(np.add.reduceat(last_year, bounds, axis=1), axis=1)
    dead = ~np.any(Y[:, -int(round(4 * per_month)) :] > 0, axis=1)
    return np.where(dead, "dead", np.where(months_used >= 8 * blocks / 12, "recurring", "sporadic"))


def classify(y: np.ndarray, season_length: int) -> dict:
    """Every class measure of one series: :func:`classify_panel` of one history."""
    return classify_panel([np.asarray(y, dtype=float)], season_length)[0]


def classify_panel(histories: list[np.ndarray], season_length: int) -> list[dict]:
    """Every class measure of every history, the series of equal length classified together as rows."""
    strengths = seasonality_strengths(histories, season_length)
    out: list[dict] = [{}] * len(histories)
    for n, rows in by_length(histories).items():
        Y = np.vstack([histories[i] for i in rows]).reshape(len(rows), n)
        adi, cv2, label = syntetos_boylan_rows(Y[:, -2 * season_length :])
        life = lifecycle_rows(Y, season_length)
        share = (Y[:, -season_length:] > 0).mean(axis=1) if n else np.zeros(len(rows))
        for k, i in enumerate(rows):
            out[i] = {"adi": float(adi[k]), "cv2": float(cv2[k]), "demand_class": str(label[k]),
                      "seasonality_strength": float(strengths[i]), "lifecycle": str(life[k]),
                      "nonzero_share_last_year": float(share[k])}
    return out
