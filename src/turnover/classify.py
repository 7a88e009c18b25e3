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

from turnover.models.batch import MAX_HARMONICS, YEAR_IN_PERIODS, Profiles, by_length

ADI_CUTOFF, CV2_CUTOFF = 1.32, 0.49
PERIODS_PER_MONTH = {52: 52 / 12, 12: 1.0}


def syntetos_boylan(y: np.ndarray) -> tuple[float, float, str]:
    """(ADI, CV^2, class) of a demand history (use the last two years)."""
    nonzero = y[y > 0]
    if len(nonzero) == 0:
        return np.inf, np.nan, "none"
    adi = len(y) / len(nonzero)
    cv2 = float(np.var(nonzero) / np.mean(nonzero) ** 2) if len(nonzero) > 1 else 0.0
    if adi < ADI_CUTOFF:
        return adi, cv2, "smooth" if cv2 < CV2_CUTOFF else "erratic"
    return adi, cv2, "intermittent" if cv2 < CV2_CUTOFF else "lumpy"


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
    """``new``, ``dead``, ``recurring`` or ``sporadic`` (see the module docstring)."""
    per_month = PERIODS_PER_MONTH.get(season_length, season_length / 12)
    if len(y) == 0 or len(y) < 9 * per_month:
        return "new"
    if not np.any(y[-int(round(4 * per_month)) :] > 0):
        return "dead"
    last_year = y[-season_length:] > 0
    # the year in 12 near-equal blocks (as np.array_split): used in how many of them
    bounds = np.r_[0, np.cumsum([len(last_year) // 12 + (k < len(last_year) % 12) for k in range(12)])][:-1]
    months_used = int(np.count_nonzero(np.add.reduceat(last_year, bounds)))
    return "recurring" if months_used >= 8 else "sporadic"


def classify(y: np.ndarray, season_length: int, strength: float | None = None) -> dict:
    """Every class measure of one series (``strength``: its seasonality strength, if already computed)."""
    recent = y[-2 * season_length :]
    adi, cv2, sb_class = syntetos_boylan(recent)
    return {
        "adi": adi,
        "cv2": cv2,
        "demand_class": sb_class,
        "seasonality_strength": seasonality_strength(y, season_length) if strength is None else float(strength),
        "lifecycle": lifecycle(y, season_length),
        "nonzero_share_last_year": float(np.mean(y[-season_length:] > 0)) if len(y) else 0.0,
    }


def classify_panel(histories: list[np.ndarray], season_length: int) -> list[dict]:
    """:func:`classify` of every history: the series of equal length classified together, as arrays."""
    strengths = seasonality_strengths(histories, season_length)
    out: list[dict] = [{}] * len(histories)
    for n, rows in by_length(histories).items():
        if n == 0:
            for i in rows:
                out[i] = classify(histories[i], season_length, strengths[i])
            continue
        Y = np.vstack([histories[i] for i in rows])
        for k, measures in enumerate(_classify_rows(Y, season_length)):
            out[rows[k]] = {"adi": measures["adi"], "cv2": measures["cv2"], "demand_class": measures["demand_class"],
                            "seasonality_strength": float(strengths[rows[k]]), "lifecycle": measures["lifecycle"],
                            "nonzero_share_last_year": measures["nonzero_share_last_year"]}
    return out


def _classify_rows(Y: np.ndarray, season_length: int) -> list[dict]:
    """Syntetos-Boylan class, lifecycle and last-year share of use of each row (equal lengths, at least one)."""
    rows, n = Y.shape
    recent = Y[:, -2 * season_length :]
    used = recent > 0
    count = used.sum(axis=1)
    sizes = np.where(used, recent, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sizes.sum(axis=1) / count
        variance = np.where(used, (recent - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
        cv2 = np.where(count > 1, variance / mean**2, np.where(count == 1, 0.0, np.nan))
        adi = np.where(count > 0, recent.shape[1] / np.maximum(count, 1), np.inf)
    smooth = adi < ADI_CUTOFF
    low_cv = cv2 < CV2_CUTOFF
    demand_class = np.where(count == 0, "none", np.where(smooth, np.where(low_cv, "smooth", "erratic"),
                                                          np.where(low_cv, "intermittent", "lumpy")))
    last_year = Y[:, -season_length:] > 0
    per_month = PERIODS_PER_MONTH.get(season_length, season_length / 12)
    if n < 9 * per_month:
        life = np.full(rows, "new", dtype=object)
    else:
        length = last_year.shape[1]
        bounds = np.r_[0, np.cumsum([length // 12 + (k < length % 12) for k in range(12)])][:-1]
        months_used = np.count_nonzero(np.add.reduceat(last_year, bounds, axis=1), axis=1)
        dead = ~np.any(Y[:, -int(round(4 * per_month)) :] > 0, axis=1)
        life = np.where(dead, "dead", np.where(months_used >= 8, "recurring", "sporadic"))
    share = last_year.mean(axis=1)
    return [{"adi": float(adi[r]), "cv2": float(cv2[r]), "demand_class": str(demand_class[r]),
             "lifecycle": str(life[r]), "nonzero_share_last_year": float(share[r])} for r in range(rows)]
