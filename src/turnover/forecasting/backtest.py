"""Rolling-origin backtests: cutoffs, scores, and probability integral transforms (PITs).

Vocabulary (as sktime): a *cutoff* c is the number of periods a fold trains on (the history
``y[:c]``); the fold is scored on the next ``horizon`` periods ``y[c:c + horizon]``. Cutoffs form an
expanding window: the last leaves exactly ``horizon`` periods to score, earlier ones step back by
``step`` periods. A model never sees ``y[c:]`` while it is scored on it.

Scores per fold:
- **MASE**: mean absolute error of the mean forecast, scaled by the in-sample MAE of the seasonal
  naive forecast (one-step naive when the training span is under two seasons) on the same training
  span (Hyndman & Koehler 2006).
- **Scaled pinball loss** at the service level alpha, with the same scale.
- **PIT**: the share of simulated paths at or below the actual (ties split at random), per period;
  calibrated forecasts give uniform PITs, and a quantile at level a covers the actual iff PIT <= a.

Everything works on a batch of series of equal length at once (rows), so the folds of thousands of
series are a few array operations per model and cutoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from turnover.forecasting.models import COMBINATION, mix_paths


def cutoffs(n: int, horizon: int, n_cutoffs: int, step: int, min_train: int) -> list[int]:
    """Training lengths of the folds, oldest first; only those with at least ``min_train`` periods."""
    last = n - horizon
    return sorted(c for c in (last - i * step for i in range(n_cutoffs)) if c >= max(min_train, 1))


def mase_scale(train: np.ndarray, season_length: int) -> np.ndarray | float:
    """In-sample MAE of the seasonal naive (or, under two seasons, the one-step naive) forecast: per row
    of a 2-D ``train`` (equal lengths), or one number for a 1-D one."""
    rows = np.atleast_2d(np.asarray(train, dtype=float))
    n = rows.shape[1]
    lag = season_length if n >= 2 * season_length else 1
    if n == 0:
        scale = np.ones(len(rows))
    elif n <= lag:
        scale = np.maximum(np.mean(np.abs(rows), axis=1), 1e-9)
    else:
        naive = np.mean(np.abs(rows[:, lag:] - rows[:, :-lag]), axis=1)
        mean = np.mean(np.abs(rows), axis=1)
        # a series of zeros: errors are then measured in units
        scale = np.where(naive > 0, naive, np.where(mean > 0, mean, 1.0))
    return float(scale[0]) if np.ndim(train) == 1 else scale


def pinball(actual: np.ndarray, quantile: np.ndarray, level: float | np.ndarray) -> float | np.ndarray:
    """Mean pinball (quantile) loss of ``quantile`` at ``level`` (over the last axis; ``level`` per row)."""
    diff = np.asarray(actual, dtype=float) - quantile
    level = np.asarray(level, dtype=float)[..., None] if np.ndim(level) else level
    loss = np.mean(np.maximum(level * diff, (level - 1) * diff), axis=-1)
    return float(loss) if np.ndim(loss) == 0 else loss


def row_quantile(paths: np.ndarray, level: float | np.ndarray, axis: int = 1, ordered: bool = False) -> np.ndarray:
    """Quantile along ``axis`` (the paths) at ``level``, one level per row (axis 0), numpy's linear method
    (``ordered``: the paths are already sorted along ``axis``)."""
    ordered = paths if ordered else np.sort(paths, axis=axis)
    n = ordered.shape[axis]
    level = np.broadcast_to(np.asarray(level, dtype=float), (paths.shape[0],))
    position = level * (n - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    shape = [len(level)] + [1] * (paths.ndim - 1)
    weight = (position - below).reshape(shape)
    low = np.take_along_axis(ordered, below.reshape(shape), axis=axis)
    high = np.take_along_axis(ordered, above.reshape(shape), axis=axis)
    return np.squeeze(low + weight * (high - low), axis=axis)


def pit(paths: np.ndarray, actual: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Randomised PIT of each period's actual under the paths: ``paths`` (rows, paths, horizon), ``actual``
    and the tie-splitting uniforms ``ties`` (rows, horizon)."""
    below = (paths < actual[:, None, :]).mean(axis=1)
    equal = (paths == actual[:, None, :]).mean(axis=1)
    return below + ties * equal


@dataclass
class Scores:
    """A batch's backtest: ``models`` x rows x ``cutoffs`` arrays, NaN where a model was not scored."""

    models: list[str]
    cutoffs: list[int]  # training lengths, oldest first
    mase: np.ndarray
    scaled_pinball: np.ndarray
    coverage_q95: np.ndarray
    pits: np.ndarray  # models x rows x cutoffs x horizon
    window_pits: np.ndarray | None = None  # models x rows x cutoffs: PIT of demand summed over the par's window
    window_pinball: np.ndarray | None = None  # models x rows x cutoffs: its pinball loss at the service level, scaled


#: ``fit(name, train, fold)``: paths (rows, paths, horizon) of model ``name`` fitted on ``train`` (rows x
#: periods) for fold ``fold`` (0 = the latest cutoff), NaN rows where it could not be fitted; None when the
#: model cannot be fitted on this batch at all. The one place a fold's model sees data.
FoldFit = Callable[[str, np.ndarray, int], "np.ndarray | None"]


#: ``known(c)``: the training histories (rows x ``c``) as they were known at cutoff ``c``: censored periods filled from
#: that span alone, not from what came after it.
Known = Callable[[int], np.ndarray]
#: ``allowed(name, fold)``: the rows (bool) for which ``name`` was a candidate at that fold, judged on the fold's history.
Allowed = Callable[[str, int], np.ndarray]


def backtest_batch(Y: np.ndarray, candidates: list[str], *, fit: FoldFit, min_history: dict[str, int], horizon: int,
                   n_cutoffs: int, step: int, service_level: np.ndarray, season_length: int, ties: np.ndarray,
                   known: Known | None = None, allowed: Allowed | None = None,
                   members: list[str] | None = None, window: np.ndarray | None = None) -> Scores:
    """Score every candidate on every fold it has enough history for, and the equal combination of ``members``
    (default: every candidate; mixed from the same fold paths: no extra fits) on the folds where each member was
    scored.

    ``Y``: histories of equal length (rows), whose periods after a cutoff are the actuals that fold is scored on;
    ``known``: what each fold trains on (default ``Y[:, :c]``); ``allowed``: where each model is a candidate (default
    everywhere), other rows' scores stay NaN; ``ties``: tie-splitting uniforms per row, fold and period.
    ``window`` (rows x horizon): the share of each period after the cutoff in the par's window (lead time +
    review period); with it, the PIT of the actual demand over that window under the paths summed over it, and
    its pinball loss at the service level (per period of the window, scaled as MASE): the par's own
    distribution judged, not only each period's.
    """
    rows, n = Y.shape
    members = list(candidates if members is None else members)
    all_cuts = cutoffs(n, horizon, n_cutoffs, step, 1)
    models = [*candidates, COMBINATION] if len(members) >= 2 else list(candidates)
    shape = (len(models), rows, len(all_cuts))
    mase, pinball_loss, coverage = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    pits = np.full((*shape, horizon), np.nan)
    window_pits, window_pinball = (np.full(shape, np.nan), np.full(shape, np.nan)) if window is not None else (None, None)
    everywhere = np.ones(rows, dtype=bool)
    for k, c in enumerate(all_cuts):
        fold = (n - horizon - c) // step
        train, actual = (known(c) if known else Y[:, :c]), Y[:, c : c + horizon]
        scale = mase_scale(train, season_length)
        by_model = {}
        for name in candidates:
            if c >= max(min_history.get(name, 1), 1):
                paths = fit(name, train, fold)
                if paths is not None:
                    by_model[name] = paths
        rows_of = {name: allowed(name, fold) if allowed else everywhere for name in by_model}
        if len(members) >= 2 and all(m in by_model for m in members):
            by_model[COMBINATION] = mix_paths([by_model[m] for m in members])
            rows_of[COMBINATION] = np.all([rows_of[m] for m in members], axis=0)
        for name, paths in by_model.items():
            m = models.index(name)
            ok = np.all(np.isfinite(paths), axis=(1, 2)) & rows_of[name]
            if name == COMBINATION:
                ok &= np.all([np.all(np.isfinite(by_model[p]), axis=(1, 2)) for p in members], axis=0)
            if not ok.any():
                continue
            p, a = np.sort(paths[ok], axis=1), actual[ok]
            q95 = row_quantile(p, 0.95, ordered=True)
            q_sl = row_quantile(p, service_level[ok], ordered=True)
            mase[m, ok, k] = np.mean(np.abs(a - p.mean(axis=1, dtype=np.float64)), axis=1) / scale[ok]
            pinball_loss[m, ok, k] = pinball(a, q_sl, service_level[ok]) / scale[ok]
            coverage[m, ok, k] = np.mean(a <= q95, axis=1)
            pits[m, ok, k] = pit(p, a, ties[ok, fold])
            if window is not None:
                w = window[ok].astype(p.dtype)
                summed, actual_sum = np.einsum("rph,rh->rp", paths[ok], w), np.einsum("rh,rh->r", a, w)
                window_pits[m, ok, k] = pit(summed[:, :, None], actual_sum[:, None], ties[ok, fold][:, :1])[:, 0]
                q_window = row_quantile(summed, service_level[ok])
                span = np.maximum(w.sum(axis=1), 1e-9)
                window_pinball[m, ok, k] = pinball(actual_sum[:, None], q_window[:, None],
                                                   service_level[ok]) / (scale[ok] * span)
    return Scores(models, all_cuts, mase, pinball_loss, coverage, pits, window_pits, window_pinball)


def mean_scores(scores: Scores, metric: str, models: list[int] | None = None) -> np.ndarray:
    """Mean ``metric`` per model (``models``: indices into ``scores.models``, default all) and row over the folds
    every scored one of those models of that row shares (models x rows; NaN where the model was not scored). A
    model sharing no fold with the others (candidates differ between folds) is averaged over its own folds."""
    values = getattr(scores, metric)
    values = values if models is None else values[models]
    finite = np.isfinite(values)
    scored = finite.any(axis=2)
    common = np.all(finite | ~scored[:, :, None], axis=0)[None] & finite
    total = np.where(common, values, 0.0).sum(axis=2)
    count = common.sum(axis=2)
    own = np.where(finite, values, 0.0).sum(axis=2) / np.maximum(finite.sum(axis=2), 1)
    return np.where(scored, np.where(count > 0, total / np.maximum(count, 1), own), np.nan)


def select(scores: Scores, metric: str, candidates: list[str], tolerance: float = 0.0) -> np.ndarray:
    """Per row, the index (in ``scores.models``) of the first of ``candidates`` (and their combination), in
    preference order, whose mean ``metric`` is within ``tolerance`` of the best of them; -1 where none was scored.

    Models are compared on the folds they all share. With a handful of folds the winner is partly
    luck; a tolerance keeps the preferred model unless another is clearly better.
    """
    preference = [scores.models.index(m) for m in [*candidates, COMBINATION] if m in scores.models]
    if not preference:
        return np.full(scores.mase.shape[1], -1)
    # only the candidates compete: a model scored on earlier folds only (a candidate then, not now) does not
    means = np.nan_to_num(mean_scores(scores, metric, preference), nan=np.inf)
    best = means.min(axis=0)
    within = np.isfinite(means) & (means <= best * (1 + tolerance))
    first = np.argmax(within, axis=0)
    return np.where(within.any(axis=0), np.asarray(preference)[first], -1)
