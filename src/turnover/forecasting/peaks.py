"""The most demand a series ever saw over a par's window, and what backs a par beyond it (issue 14).

The forecast adds these to each series' protection frame (:func:`history_peaks`); the par policy's peak-season
rule (``turnover.inventory.peak_cap``) limits a par to a multiple of them unless a reason named here backs more:

- **signal**: the drug's external signal (flu activity for an antiviral) is running above any earlier season:
  its latest published value is above every value published for the history at least half a season
  before it (:func:`signal_above_seasons`);
- **trend**: the forecast's expected (mean) demand over the window is itself above the most ever seen: the
  model found growth, not just a wide tail.

A history under one full season has no peak (NaN): a new item's few weeks say nothing about its busiest ones.
Pure functions: no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The columns :func:`history_peaks` adds to the forecast's protection frame (also stored with it).
PEAK_COLUMNS = ("peak_lead_units", "peak_protection_units", "peak_backing")


def window_peak(y: np.ndarray, window_days: float, period_days: float) -> float:
    """The most demand in any ``window_days`` of the history ``y`` (units per period of ``period_days``),
    each period's demand spread evenly over its days (as the forecast spreads it: ``calendar.window_weights``);
    NaN for an empty history.

    With w = q + r periods (q whole, 0 <= r < 1), the window sum is piecewise linear in its start, so its
    maximum is at a window starting or ending on a period boundary: ``max_t sum(y[t:t+q]) + r max(y[t-1], y[t+q])``.
    """
    return float(window_peaks(np.asarray(y, dtype=float)[None, :], window_days, period_days)[0])


def window_peaks(Y: np.ndarray, window_days: float, period_days: float) -> np.ndarray:
    """:func:`window_peak` of each row of ``Y`` (histories of equal length), one window for all rows."""
    Y = np.nan_to_num(np.asarray(Y, dtype=float), nan=0.0)
    rows, n = Y.shape
    if n == 0:
        return np.full(rows, np.nan)
    w = max(float(window_days), 0.0) / float(period_days)
    q = int(np.floor(w + 1e-9))
    r = max(w - q, 0.0)
    if q >= n:
        return np.array([y.sum() for y in Y], dtype=float)  # row by row: the same pairwise sum as one history's
    total = np.hstack([np.zeros((rows, 1)), np.cumsum(Y, axis=1)])
    full = total[:, q:] - total[:, : n - q + 1]  # sums of q periods starting at t = 0 .. n - q
    before = np.hstack([np.zeros((rows, 1)), Y[:, : n - q]])  # y[t - 1]
    after = np.hstack([Y[:, q:], np.zeros((rows, 1))])  # y[t + q]
    return np.max(full + r * np.maximum(before, after), axis=1)


def _peaks_by_window(histories: list[np.ndarray], window_days: np.ndarray, period_days: float,
                     wanted: np.ndarray) -> np.ndarray:
    """:func:`window_peak` of each of the ``wanted`` histories over its own window (NaN elsewhere): the histories
    of equal length and window together."""
    out = np.full(len(histories), np.nan)
    together: dict[tuple[int, float], list[int]] = {}
    for i in np.flatnonzero(wanted):
        together.setdefault((len(histories[i]), float(window_days[i])), []).append(int(i))
    for (n, days), rows in together.items():
        out[rows] = window_peaks(np.vstack([histories[i] for i in rows]).reshape(len(rows), n), days, period_days)
    return out


def signal_above_seasons(signal: dict[int, float] | None, first: int, season_length: int) -> bool:
    """Whether the signal's latest published value (``signal``: absolute period index -> value, only what was
    published) is above every value published from period ``first`` (the history's first) to half a season
    before it; False without a signal or without such earlier values."""
    if not signal:
        return False
    latest = max(signal)
    earlier = [v for k, v in signal.items() if first <= k <= latest - season_length // 2 and np.isfinite(v)]
    return bool(earlier) and float(signal[latest]) > max(earlier)


def backing(mean_units: float, peak_units: float, signal_above: bool, window_days: int) -> str:
    """The reason a par may go beyond the rule, in words (empty: none)."""
    if signal_above:
        return "flu activity running above any earlier season"
    if np.isfinite(peak_units) and mean_units > peak_units:
        return f"a trend: {mean_units:,.0f} units expected over {window_days} days, more than ever dispensed"
    return ""


def history_peaks(protection: pd.DataFrame, histories: list[np.ndarray], signals: list[dict[int, float] | None],
                  origins: list[int], *, review_days: int, season_length: int, period_days: float) -> pd.DataFrame:
    """The protection frame (rows in the order of ``histories``) with :data:`PEAK_COLUMNS`: the most demand
    seen over L and over L + R days (NaN for a history under one season), and what backs a par beyond the rule.

    Args:
        protection: ``PROTECTION_COLUMNS`` rows (lead time in days, mean demand over L + R).
        histories: each series' demand per period, as the models fit it (censored periods filled).
        signals: each series' published signal by absolute period index, or None.
        origins: the absolute period index of each history's first period.
        review_days: the review period R in days.
        season_length: periods per year (52 or 12).
        period_days: days per period (7, or 365.25 / 12).
    """
    lead = protection["lead_time_days"].to_numpy(dtype=float)
    window = lead + review_days
    long_enough = np.array([len(y) >= season_length for y in histories], dtype=bool)
    peak_lead = _peaks_by_window(histories, lead, period_days, long_enough)
    peak_both = _peaks_by_window(histories, window, period_days, long_enough)
    means = protection["protection_demand_mean"].to_numpy(dtype=float)
    backed = [backing(m, p, signal_above_seasons(s, o, season_length), int(d))
              for m, p, s, o, d in zip(means, peak_both, signals, origins, window, strict=True)]
    return protection.assign(peak_lead_units=peak_lead, peak_protection_units=peak_both, peak_backing=backed)
