"""Demand series the models can trust: censored periods filled in, not read as zero demand.

The SQL (``io/sql/demand_series.sql``) already scales periods with some closed or out-of-stock
days and leaves fully censored ones empty (NaN). Here:

- **Heuristic censoring** where no stockout log says so: a run of at least ``min_zero_run``
  zero periods inside a steady series (used in at least ``min_nonzero_share`` of the periods in the
  half year on either side of the run) is taken as a stockout, not as demand. With Poisson demand of even one use a
  week, two empty weeks in a row happen about 1.8% of the time; in a series used nearly every week
  it is far more likely that the shelf was empty. A run that reaches the as-of date is left alone:
  it may be a real stop (discontinued drug) and the lifecycle class handles it.
- **Filling**: each empty period gets the mean of up to ``fill_window`` observed periods on each
  side (the local level), never a zero.
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.batch import by_length
from turnover.settings import CensorSettings


def flag_suspicious_zeros(y: np.ndarray, season_length: int, settings: CensorSettings) -> np.ndarray:
    """A copy of ``y`` with zero runs that look like stockouts set to NaN (see the module docstring):
    :func:`flag_rows`, one row."""
    return flag_rows(np.asarray(y, dtype=float)[None, :], season_length, settings)[0]


def fill_censored(y: np.ndarray, window: int) -> np.ndarray:
    """``y`` with each NaN replaced by the mean of up to ``window`` observed values on each side."""
    out = y.copy()
    missing = np.flatnonzero(np.isnan(y))
    observed = np.flatnonzero(~np.isnan(y))
    if len(observed) == 0:
        return np.zeros_like(y)
    for i in missing:
        before = observed[observed < i][-window:]
        after = observed[observed > i][:window]
        out[i] = float(np.mean(y[np.r_[before, after]]))
    return out


def censored_history(y: np.ndarray, season_length: int, settings: CensorSettings) -> tuple[np.ndarray, int]:
    """The history the models fit on, and how many periods were filled in (logged or flagged):
    :func:`censored_panel` of one history."""
    filled, counts = censored_panel([np.asarray(y, dtype=float)], season_length, settings)
    return filled[0], counts[0]


def censored_panel(histories: list[np.ndarray], season_length: int,
                   settings: CensorSettings) -> tuple[list[np.ndarray], list[int]]:
    """:func:`censored_history` of every history: the zero runs of equal-length series found and judged
    together, as arrays; only the few series with periods to fill are filled one at a time."""
    out: list[np.ndarray] = [np.empty(0)] * len(histories)
    counts = [0] * len(histories)
    for n, rows in by_length(histories).items():
        Y = np.vstack([histories[i] for i in rows]).astype(float).reshape(len(rows), n)
        flagged = flag_rows(Y, season_length, settings) if settings.heuristic else Y
        missing = np.isnan(flagged)
        for k, i in enumerate(rows):
            counts[i] = int(missing[k].sum())
            out[i] = fill_censored(flagged[k], settings.fill_window) if counts[i] else flagged[k]
    return out, counts


def flag_rows(Y: np.ndarray, season_length: int, settings: CensorSettings) -> np.ndarray:
    """Each row of ``Y`` (equal lengths) with its stockout-like zero runs set to NaN, without a loop over rows
    or runs."""
    rows, n = Y.shape
    is_zero = np.zeros((rows, n + 2), dtype=bool)
    is_zero[:, 1:-1] = Y == 0
    edges = np.diff(is_zero.astype(np.int8), axis=1)
    run_rows, start = np.nonzero(edges == 1)  # row-major: each row's starts and stops in order
    _, stop = np.nonzero(edges == -1)
    keep = (stop - start >= settings.min_zero_run) & (stop != n)
    run_rows, start, stop = run_rows[keep], start[keep], stop[keep]
    if not len(start):
        return Y.copy()
    half_year = season_length // 2
    finite = np.isfinite(Y)
    zeros = np.zeros((rows, 1))
    seen = np.hstack([zeros, np.cumsum(finite, axis=1)])
    hits = np.hstack([zeros, np.cumsum(finite & (np.nan_to_num(Y) > 0), axis=1)])
    before, after = np.maximum(start - half_year, 0), np.minimum(stop + half_year, n)

    def around(counts: np.ndarray) -> np.ndarray:
        return (counts[run_rows, start] - counts[run_rows, before] + counts[run_rows, after]
                - counts[run_rows, stop])

    observed, positive = around(seen), around(hits)
    steady = (observed >= season_length // 4) & (positive >= settings.min_nonzero_share * np.maximum(observed, 1))
    paint = np.zeros((rows, n + 1))
    np.add.at(paint, (run_rows[steady], start[steady]), 1)
    np.add.at(paint, (run_rows[steady], stop[steady]), -1)
    out = Y.copy()
    out[np.cumsum(paint, axis=1)[:, :n] > 0] = np.nan
    return out
