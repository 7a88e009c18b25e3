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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from turnover.models import COMBINATION, DemandModel, SeriesContext, make_model, mix_paths


def cutoffs(n: int, horizon: int, n_cutoffs: int, step: int, min_train: int) -> list[int]:
    """Training lengths of the folds, oldest first; only those with at least ``min_train`` periods."""
    last = n - horizon
    return sorted(c for c in (last - i * step for i in range(n_cutoffs)) if c >= max(min_train, 1))


def mase_scale(train: np.ndarray, season_length: int) -> float:
    """In-sample MAE of the seasonal naive (or, under two seasons, the one-step naive) forecast."""
    lag = season_length if len(train) >= 2 * season_length else 1
    if len(train) <= lag:
        return max(float(np.mean(np.abs(train))), 1e-9) if len(train) else 1.0
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    if scale > 0:
        return scale
    mean = float(np.mean(np.abs(train)))
    return mean if mean > 0 else 1.0  # a series of zeros: errors are then measured in units


def pinball(actual: np.ndarray, quantile: np.ndarray, level: float) -> float:
    """Mean pinball (quantile) loss of ``quantile`` at ``level``."""
    diff = actual - quantile
    return float(np.mean(np.maximum(level * diff, (level - 1) * diff)))


def pit(paths: np.ndarray, actual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomised PIT of each period's actual under the paths (shape ``(horizon,)``)."""
    below = (paths < actual).mean(axis=0)
    equal = (paths == actual).mean(axis=0)
    return below + rng.random(len(actual)) * equal


@dataclass
class FoldScore:
    model: str
    cutoff: int
    mase: float
    scaled_pinball: float
    coverage_q95: float
    pits: np.ndarray = field(repr=False)


def fit_paths(name: str, train: np.ndarray, context: SeriesContext, horizon: int, n_paths: int,
              rng: np.random.Generator) -> np.ndarray:
    """Paths of model ``name`` fitted on ``train`` (the one place a fold's model sees data)."""
    model: DemandModel = make_model(name, context)
    return model.fit(train).sample_paths(horizon, n_paths, rng)


def min_history(name: str, context: SeriesContext) -> int:
    return make_model(name, context).min_history


def backtest_series(
    y: np.ndarray,
    candidates: list[str],
    *,
    context: SeriesContext,
    horizon: int,
    n_cutoffs: int,
    step: int,
    n_paths: int,
    service_level: float,
    rng: np.random.Generator,
    fit=fit_paths,
    precomputed: dict[str, dict[int, np.ndarray]] | None = None,
) -> list[FoldScore]:
    """Score every candidate on every fold it has enough history for, and their equal combination
    (mixed from the same fold paths: no extra fits) on the folds where two or more were scored.

    ``precomputed[name][cutoff]`` supplies a model's fold paths fitted outside this series' loop.
    """
    by_cutoff: dict[int, dict[str, np.ndarray]] = {}
    for name in candidates:
        if precomputed and name in precomputed:  # fitted elsewhere per fold (a global model)
            for c, paths in precomputed[name].items():
                by_cutoff.setdefault(c, {})[name] = paths
            continue
        try:
            least = min_history(name, context)
        except ValueError:
            continue
        for c in cutoffs(len(y), horizon, n_cutoffs, step, least):
            try:
                by_cutoff.setdefault(c, {})[name] = fit(name, y[:c], context, horizon, n_paths, rng)
            except (ValueError, np.linalg.LinAlgError):
                continue
    scores = []
    for c, paths_by_model in sorted(by_cutoff.items()):
        train, actual = y[:c], y[c : c + horizon]
        scale = mase_scale(train, context.season_length)
        if len(paths_by_model) >= 2 and len(paths_by_model) == len(candidates):
            paths_by_model = {**paths_by_model, COMBINATION: mix_paths(list(paths_by_model.values()), n_paths)}
        for name, paths in paths_by_model.items():
            scores.append(_score(name, c, paths, actual, scale, service_level, rng))
    return scores


def _score(name: str, cutoff: int, paths: np.ndarray, actual: np.ndarray, scale: float, service_level: float,
           rng: np.random.Generator) -> FoldScore:
    q95 = np.quantile(paths, 0.95, axis=0)
    q_sl = np.quantile(paths, service_level, axis=0)
    return FoldScore(
        name, cutoff,
        mase=float(np.mean(np.abs(actual - paths.mean(axis=0)))) / scale,
        scaled_pinball=pinball(actual, q_sl, service_level) / scale,
        coverage_q95=float(np.mean(actual <= q95)),
        pits=pit(paths, actual, rng),
    )


def select(scores: list[FoldScore], metric: str, candidates: list[str], tolerance: float = 0.0) -> str | None:
    """The first candidate (in preference order) whose mean ``metric`` is within ``tolerance`` of the best.

    Models are compared on the folds they all share. With a handful of folds the winner is partly
    luck; a tolerance keeps the preferred model unless another is clearly better. None when no
    candidate was scored.
    """
    by_model: dict[str, dict[int, float]] = {}
    for s in scores:
        by_model.setdefault(s.model, {})[s.cutoff] = getattr(s, metric)
    if not by_model:
        return None
    # Every scored model has the last fold (it has the most history), so ``common`` is never empty.
    common = set.intersection(*(set(v) for v in by_model.values()))
    mean_score = {m: float(np.mean([v[c] for c in common])) for m, v in by_model.items()}
    best = min(mean_score.values())
    preference = [*candidates, COMBINATION]
    return next(m for m in preference if m in mean_score and mean_score[m] <= best * (1 + tolerance))
