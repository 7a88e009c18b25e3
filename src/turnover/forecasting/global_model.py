"""The global model (one gradient-boosted model over every series): fitted once on the panel, and backtested
once per fold for every series that lists it, before the batches."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from turnover.forecasting.censoring import censored_panel
from turnover.forecasting.contract import BatchMap, serial_map, single_threaded
from turnover.forecasting.fitting import quiet_fitting
from turnover.forecasting.folds import cut_histories
from turnover.forecasting.models import GLOBAL_GBM, GlobalGBM, GlobalSeries, ResidualNoise, SeriesContext
from turnover.settings import ForecastSettings


def fit_global(histories, contexts, horizon: int, season_length: int, seed: int) -> GlobalGBM:
    with quiet_fitting():
        return GlobalGBM(season_length=season_length, horizon=horizon, seed=seed).fit(
            histories, [c.origin for c in contexts])


def global_backtest(raw, contexts, candidates_by_series, horizon: int, step: int, settings: ForecastSettings,
                    map_batches: BatchMap = serial_map,
                    ) -> tuple[dict[int, dict[int, tuple[np.ndarray, float, int]]], dict[int, ResidualNoise]]:
    """The global model's fold forecasts for every series that lists it: ``{series: {fold: (points, scale)}}``
    and each fold model's residuals (fold 0 = the latest cutoff), from the ``raw`` histories (censored periods
    NaN: each fold fills them from its own span).

    Every series ends the period before the first forecast, so "k periods before the end" is one
    calendar date for all of them: each fold trains one global model on every history cut there.
    The folds are independent, so they run as batches too (one fold each).
    """
    # only series whose latest fold leaves the global model enough history to forecast them
    wanted = [i for i, c in enumerate(candidates_by_series)
              if GLOBAL_GBM in c and len(raw[i]) - horizon >= GlobalSeries.min_history]
    if not wanted:
        return {}, {}
    folds = [_GlobalFold(j, raw, contexts, wanted, horizon, step, settings) for j in range(settings.backtest_cutoffs)]
    by_fold = map_batches(partial(single_threaded, _global_fold), folds, "global model")
    out: dict[int, dict[int, tuple[np.ndarray, float, int]]] = {}
    noise: dict[int, ResidualNoise] = {}
    for j, fold in enumerate(by_fold):
        if fold is None:  # too little history this far back: this fold and the older ones are skipped
            break
        points, noise[j] = fold
        for i, point in points.items():
            out.setdefault(i, {})[j] = point
    return out, noise


@dataclass(frozen=True)
class _GlobalFold:
    """One fold of the global model's backtest: train on every history cut ``horizon + j * step`` from its end,
    its censored periods filled from what is left (``histories`` are the raw ones)."""

    j: int
    histories: list[np.ndarray]
    contexts: list[SeriesContext]
    wanted: list[int]
    horizon: int
    step: int
    settings: ForecastSettings
    progress_unit = "folds"  # what len() counts, for progress bars (series elsewhere)

    def __len__(self) -> int:
        return 1


def _global_fold(fold: _GlobalFold) -> tuple[dict[int, tuple[np.ndarray, float, int]], ResidualNoise] | None:
    """The fold model's point forecasts per series and its residuals, or None when there is too little
    history to train."""
    settings, back = fold.settings, fold.horizon + fold.j * fold.step
    season_length = fold.contexts[0].season_length
    cut, _ = censored_panel(cut_histories(fold.histories, back), season_length, settings.censor)
    try:
        model = fit_global(cut, fold.contexts, fold.horizon, fold.contexts[0].season_length, settings.seed + fold.j)
    except ValueError:
        return None
    return model.predict_points(fold.wanted, fold.horizon), model.noise()


def noise_sampler(noise: ResidualNoise, point: tuple[np.ndarray, float, int] | None, horizon: int, n_paths: int,
                  rng: np.random.Generator) -> np.ndarray:
    """One series' global-model paths (what a per-series fallback calls)."""
    if point is None:
        raise ValueError("global_gbm: no forecast for this series (too little history)")
    return noise.paths([point], rng.random((1, n_paths, horizon)))[0]
