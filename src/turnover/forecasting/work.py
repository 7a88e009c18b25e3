"""The panel prepared for the per-series passes (:class:`PanelWork`): histories with censored periods filled,
classes, model contexts and candidates, the folds' views and the global model's fold forecasts; and how series are
put into batches and groups, with their own id-seeded random draws (a series' numbers do not depend on its batch)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.forecasting.candidates import series_candidates, signal_until
from turnover.forecasting.censoring import censored_panel
from turnover.forecasting.classify import classify_panel
from turnover.forecasting.contract import BatchMap, ProtectionWindow, Selection
from turnover.forecasting.folds import FoldView, fold_views, sibling_profiles
from turnover.forecasting.global_model import global_backtest
from turnover.forecasting.models import ResidualNoise, SeriesContext
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings

#: Series fitted together at most (bounds the arrays of paths: rows x paths x periods).
GROUP_ROWS = {"backtest": 256, "forecast": 128}


@dataclass
class PanelWork:
    """The panel prepared for the per-series passes: histories, classes, contexts, pooled inputs."""

    keys: list[tuple[str, str]]
    histories: list[np.ndarray]
    raw: list[np.ndarray]  # the histories before censored periods were filled (NaN where fully censored)
    classes: list[dict]
    contexts: list[SeriesContext]
    candidates: list[list[str]]
    global_folds: dict[int, dict[int, tuple[np.ndarray, float, int]]]  # series -> fold -> predict_points entry
    global_noise: dict[int, ResidualNoise]  # fold -> the fold model's residuals
    service_levels: np.ndarray
    targets: tuple[float, ...]
    window: ProtectionWindow
    as_of: date
    settings: ForecastSettings
    horizon_fc: int
    step: int
    first_forecast: int
    folds: list[FoldView]  # what each backtest fold knew (empty when no series is backtested)

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, batch: list[int]) -> PanelWork:
        """The same work for the series ``batch`` only (renumbered from 0): what one batch task receives."""
        levels = self.service_levels[batch]
        window = replace(self.window, lead_time_days=np.asarray(self.window.lead_time_days)[batch], service_level=levels)
        folds = [replace(view, candidates=[view.candidates[i] for i in batch]) for view in self.folds]
        return replace(self, keys=[self.keys[i] for i in batch], histories=[self.histories[i] for i in batch],
                       raw=[self.raw[i] for i in batch], folds=folds,
                       classes=[self.classes[i] for i in batch], contexts=[self.contexts[i] for i in batch],
                       candidates=[self.candidates[i] for i in batch],
                       global_folds={j: self.global_folds[i] for j, i in enumerate(batch) if i in self.global_folds},
                       service_levels=levels, window=window)

    def groups(self, key: Callable[[int], Any], most: int) -> list[list[int]]:
        """Series of equal ``key(i)`` (which starts with the history's length), in chunks of at most ``most``."""
        by_key: dict[Any, list[int]] = {}
        for i in range(len(self)):
            by_key.setdefault(key(i), []).append(i)
        return [rows[k : k + most] for rows in by_key.values() for k in range(0, len(rows), most)]


def series_rng(seed: int, location_id: str, drug_id: str, stream: int = 0) -> np.random.Generator:
    """A generator seeded by the run seed and the series ids (stable across batches and workers)."""
    return np.random.default_rng([seed, zlib.crc32(location_id.encode()), zlib.crc32(drug_id.encode()), stream])


def uniforms(work: PanelWork, rows: list[int], stream: int, shape: tuple[int, ...],
              extra: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray | None, list[np.random.Generator]]:
    """Each series' own uniforms (``shape``, then ``extra`` if given) from its id-seeded generator, stacked
    over ``rows``; and the generators, for what is fitted one series at a time."""
    rngs = [series_rng(work.settings.seed, *work.keys[i], stream) for i in rows]
    U = np.stack([rng.random(shape, dtype=np.float32) for rng in rngs])
    V = np.stack([rng.random(extra) for rng in rngs]) if extra else None
    return U, V, rngs


def batches_by(series: Iterable[int], key: Callable[[int], Any], size: int) -> list[list[int]]:
    """``series`` in batches of at most ``size``, ordered by ``key`` (stable): series fitted together (of one
    key) land in the same batch, so a batch holds a few large groups rather than many small ones."""
    size = max(1, int(size))
    order = sorted(series, key=key)
    return [order[i : i + size] for i in range(0, len(order), size)]


def stacked(frames: list[pd.DataFrame], columns) -> pd.DataFrame:
    """The frames with rows as one (a batch without any gives an empty frame: left out, as pandas will not
    let it set the columns' types); an empty frame of ``columns`` if none has rows."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def prepare(panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings,
             signals: dict[str, dict[int, float]], reuse: Selection | None, map_batches: BatchMap,
             calibrate_levels: tuple[float, ...] = ()) -> PanelWork:
    """Histories, classes and model contexts per series; sibling profiles and the global model's folds."""
    period = settings.period
    season_length = calendar.SEASON_LENGTH[period]
    horizon_fc = settings.horizon_periods()
    step = max(1, round(settings.backtest_step_weeks * 7 / calendar.DAYS_PER_PERIOD[period]))
    keys = [tuple(k) for k in panel.keys.itertuples(index=False)]
    service_levels = window.levels(len(keys))
    reused = set(reuse.keys) if reuse is not None else set()

    first_forecast = calendar.period_index(calendar.first_forecast_start(as_of, period), period)
    raw = [panel.history(i) for i in range(len(keys))]
    histories, censored = censored_panel(raw, season_length, settings.censor)
    classes_by_series = [{**c, "censored_periods": n} for c, n in
                         zip(classify_panel(histories, season_length), censored, strict=True)]
    borrowed = sibling_profiles(keys, histories, classes_by_series, first_forecast, season_length, settings)

    contexts, candidates_by_series = [], []
    for i, (_, drug_id) in enumerate(keys):
        y = histories[i]
        context = SeriesContext(season_length, settings.recent_window_periods, borrowed=borrowed.get(drug_id),
                                origin=first_forecast - len(y), signal=signal_until(signals.get(drug_id), first_forecast - 1))
        candidates = series_candidates(y, classes_by_series[i], season_length, settings, context)
        candidates_by_series.append(candidates)
        contexts.append(replace(context, members=tuple(candidates)))
    # The series to backtest: all of them, unless a selection is reused. Each fold sees the panel as it was at
    # its cutoff (fold_views); the global model is backtested once per fold for all of them, here, before the
    # batches.
    wanted = [[] if keys[i] in reused else c for i, c in enumerate(candidates_by_series)]
    needed = None if reuse is None else [i for i, key in enumerate(keys) if key not in reused]
    folds = fold_views(keys, raw, contexts, first_forecast, horizon_fc, step, settings, needed) if any(wanted) else []
    global_folds, global_noise = global_backtest(raw, contexts, wanted, horizon_fc, step, settings, map_batches)
    levels = (*np.unique(service_levels), *calibrate_levels, *window.curve_levels)
    targets = tuple(sorted({*schema.QUANTILE_LEVELS, *(round(float(v), 6) for v in levels)}))
    return PanelWork(keys, histories, raw, classes_by_series, contexts, candidates_by_series, global_folds,
                      global_noise, service_levels, targets, window, as_of, settings, horizon_fc, step, first_forecast,
                      folds)
