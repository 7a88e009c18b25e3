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

from turnover.models.batch import by_length
from turnover.settings import CensorSettings


def zero_runs(y: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs of the maximal runs of exact zeros in ``y``."""
    is_zero = np.r_[False, y == 0, False]
    edges = np.flatnonzero(np.diff(is_zero.astype(int)))
    return list(zip(edges[::2], edges[1::2], strict=True))


def flag_suspicious_zeros(y: np.ndarray, season_length: int, settings: CensorSettings) -> np.ndarray:
    """A copy of ``y`` with zero runs that look like stockouts set to NaN (see the module docstring)."""
    out = y.astype(float).copy()
    runs = np.array(zero_runs(y), dtype=np.int64).reshape(-1, 2)
    runs = runs[(runs[:, 1] - runs[:, 0] >= settings.min_zero_run) & (runs[:, 1] != len(y))]
    if not len(runs):
        return out
    # observed and used periods in the half year before and after each run, from running counts
    half_year = season_length // 2
    finite, used = np.isfinite(y), np.nan_to_num(y) > 0
    seen = np.r_[0, np.cumsum(finite)]
    hits = np.r_[0, np.cumsum(used & finite)]
    start, stop = runs[:, 0], runs[:, 1]
    before, after = np.maximum(start - half_year, 0), np.minimum(stop + half_year, len(y))
    observed = seen[start] - seen[before] + seen[after] - seen[stop]
    positive = hits[start] - hits[before] + hits[after] - hits[stop]
    steady = (observed >= season_length // 4) & (positive >= settings.min_nonzero_share * np.maximum(observed, 1))
    for a, b in runs[steady]:
        out[a:b] = np.nan
    return out


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
    """The history the models fit on, and how many periods were filled in (logged or flagged)."""
    flagged = flag_suspicious_zeros(y, season_length, settings) if settings.heuristic else y.astype(float)
    n_censored = int(np.isnan(flagged).sum())
    return (fill_censored(flagged, settings.fill_window) if n_censored else flagged), n_censored


def censored_panel(histories: list[np.ndarray], season_length: int,
                   settings: CensorSettings) -> tuple[list[np.ndarray], list[int]]:
    """:func:`censored_history` of every history: the zero runs of equal-length series found and judged
    together, as arrays; only the few series with periods to fill are filled one at a time."""
    out: list[np.ndarray] = [np.empty(0)] * len(histories)
    counts = [0] * len(histories)
    for n, rows in by_length(histories).items():
        if n == 0:
            for i in rows:
                out[i] = histories[i].astype(float)
            continue
        Y = np.vstack([histories[i] for i in rows]).astype(float)
        flagged = _flag_rows(Y, season_length, settings) if settings.heuristic else Y
        missing = np.isnan(flagged)
        for k, i in enumerate(rows):
            counts[i] = int(missing[k].sum())
            out[i] = fill_censored(flagged[k], settings.fill_window) if counts[i] else flagged[k]
    return out, counts


def _flag_rows(Y: np.ndarray, season_length: int, settings: CensorSettings) -> np.ndarray:
    """:func:`flag_suspicious_zeros` of each row of ``Y`` (equal lengths), without a loop over rows or runs."""
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
