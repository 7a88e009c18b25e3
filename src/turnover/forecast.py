"""The loop over series: classify, backtest the candidates, choose, recalibrate, forecast.

``forecast_panel`` is the one function that does per-series work. It runs in three passes so it can
be mapped over batches of series (threads, processes, a Dask cluster) with one small reduction:

1. per series: classify, backtest the candidate models on rolling origins, choose the best;
2. pooled: fit the quantile recalibration from the chosen models' backtest PITs;
3. per series: fit the chosen model on the whole history, simulate, and read quantiles at the
   recalibrated levels, per period and summed over the lead time and lead time + review period.

Random draws are seeded per series from its ids, so a series' numbers do not depend on which batch
or worker computed it.
"""

from __future__ import annotations

import logging
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial
from typing import Any, Callable

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from turnover import backtest, calendar, schema
from turnover.calibration import Calibration, fit_calibration
from turnover.classify import classify
from turnover.demand import censored_history
from turnover.io.demand import DemandPanel
from turnover.models import (
    BORROWED_PROFILE,
    COMBINATION,
    GLOBAL_GBM,
    SIGNAL_REGRESSION,
    GlobalGBM,
    SeriesContext,
    SignalRegression,
)
from turnover.models.harmonic import MAX_HARMONICS, YEAR_IN_PERIODS, YearlyProfile, average_profile, fit_yearly_profile
from turnover.settings import ForecastSettings

log = logging.getLogger(__name__)

SEASONAL_MODELS = ("dynamic_harmonic", "holt_winters", "seasonal_naive")
SIGNAL_MIN_HISTORY = SignalRegression.min_history

#: Fallback order when a model cannot be fitted on the full history.
FALLBACKS = ("dynamic_harmonic", "exp_smoothing", "empirical_bootstrap")


@dataclass(frozen=True)
class SeriesForecast:
    """One series' simulated demand and how it was obtained."""

    model: str
    basis: str  # in words, for the reason column
    paths: np.ndarray  # (n_paths, horizon), units


@dataclass(frozen=True)
class ProtectionWindow:
    """Per-series policy inputs the forecast needs to sum demand over lead time and review period.

    ``service_level`` is one level or one per series (service tiers). ``calendar_weeks`` > 0 also
    reads the same quantiles for reviews 1 .. n weeks ahead (the par calendar).
    """

    lead_time_days: np.ndarray
    review_period_days: int
    service_level: float | np.ndarray
    calendar_weeks: int = 0

    def levels(self, n: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.service_level, dtype=float), (n,))


@dataclass(frozen=True)
class PanelForecast:
    """Everything ``forecast_panel`` produces, as frames keyed by ``location_id, drug_id``."""

    forecast: pd.DataFrame  # series x period: mean, q50 .. q99, model
    protection: pd.DataFrame  # series: demand over L and L + R at the service level
    calendar: pd.DataFrame  # series x week ahead: mean demand that week, quantiles over L and L + R from it
    classes: pd.DataFrame  # series: Syntetos-Boylan class, seasonality strength, lifecycle
    scores: pd.DataFrame  # series x model x cutoff: MASE, scaled pinball, q95 coverage, chosen
    calibration: pd.DataFrame  # scope x model x level: calibrated level, raw and recalibrated coverage
    selection: Selection | None = None  # what passes 1 and 2 decided, to reuse on a later date


@dataclass(frozen=True)
class Selection:
    """Each series' chosen model and the recalibration maps: passes 1 and 2 of a run.

    A later run over the same series can reuse it and only refit (pass 3): the weekly parameter
    refresh between full reselections (and the inventory replay's weeks).
    """

    keys: tuple[tuple[str, str], ...]
    chosen: tuple[tuple[str, str], ...]
    near: Calibration
    all: Calibration


def choose_model(y: np.ndarray, season_length: int, settings: ForecastSettings) -> tuple[str, str]:
    """The model a history supports by rule, and why: used where a backtest cannot decide.

    No history -> ``no_history``; no use in the recent window, a short history, or intermittent
    demand (share of non-zero periods over the last year below the threshold) ->
    ``empirical_bootstrap`` (of the recent window); at least ``min_seasons`` full seasons ->
    ``dynamic_harmonic``; otherwise ``exp_smoothing``.
    """
    n = len(y)
    unit = "weeks" if season_length == 52 else "months"
    if n == 0:
        return "no_history", "no dispensing history"
    recent = y[-settings.recent_window_periods :]
    # Intermittency is judged over a whole year, so that a seasonal drug's quiet months do not
    # make it look intermittent.
    year = y[-season_length:]
    if not recent.any():
        return "empirical_bootstrap", f"no use in the last {len(recent)} {unit}"
    if n < settings.min_history_periods:
        return "empirical_bootstrap", f"new item: {n} {unit} of history"
    if float(np.mean(year > 0)) < settings.intermittent_nonzero_share:
        return "empirical_bootstrap", f"intermittent: used in {int((year > 0).sum())} of the last {len(year)} {unit}"
    if n >= settings.min_seasons * season_length:
        return "dynamic_harmonic", f"yearly profile + smoothed level on {n} {unit}"
    return "exp_smoothing", f"{n} {unit} of history, under {settings.min_seasons:g} seasons: no seasonality"


def candidates_for(y: np.ndarray, classes: dict, season_length: int, settings: ForecastSettings,
                   has_borrowed_profile: bool = False) -> list[str]:
    """Models worth backtesting for a series of this class, in preference order (empty: decide by rule).

    A strongly seasonal series (seasonality strength at least the threshold, two years of history)
    is backtested among the seasonal models only: a flat model can win a year of 13-week folds by a
    few percent off season and then miss the season itself, which is what par levels exist for.
    Otherwise intermittent and lumpy series try the intermittent methods, smooth and erratic ones the
    smooth list; models needing two seasons are dropped for shorter histories, which try the yearly
    profile of the same drug at other locations first when those are seasonal.
    """
    if len(y) < settings.min_history_periods or not y[-settings.recent_window_periods :].any():
        return []
    long_enough = len(y) >= settings.min_seasons * season_length
    strength = classes["seasonality_strength"]
    if long_enough and np.isfinite(strength) and strength >= settings.seasonal_strength_threshold:
        return list(settings.candidates_seasonal)
    intermittent = classes["demand_class"] in ("intermittent", "lumpy") or (
        classes["nonzero_share_last_year"] < settings.intermittent_nonzero_share
    )
    names = list(settings.candidates_intermittent if intermittent else settings.candidates_smooth)
    if long_enough:
        return names
    # A new item too short for its own season tries its siblings' season first.
    return [*([BORROWED_PROFILE] if has_borrowed_profile else []), *(n for n in names if n not in SEASONAL_MODELS)]


@contextmanager
def quiet_fitting():
    """Silence the optimiser's convergence notes on short, noisy series: backtests judge accuracy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def forecast_series(
    y: np.ndarray, horizon: int, context: SeriesContext, settings: ForecastSettings, rng: np.random.Generator,
    chosen: tuple[str, str] | None = None,
) -> SeriesForecast:
    """Simulated demand for one series from ``chosen`` (model, basis; else the rule's model),
    falling back down ``FALLBACKS`` on failure."""
    name, basis = chosen or choose_model(y, context.season_length, settings)
    chain = [name, *[m for m in FALLBACKS if m != name]] if len(y) else [name]
    for i, candidate in enumerate(chain):
        try:
            with quiet_fitting():
                paths = backtest.fit_paths(candidate, y, context, horizon, settings.n_paths, rng)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.warning("%s failed (%s); falling back", candidate, exc)
            continue
        if i:
            basis = f"{basis}; {chain[0]} failed, fell back to {candidate}"
        return SeriesForecast(candidate, basis, paths)
    raise RuntimeError("every fallback model failed")  # empirical_bootstrap accepts any history


def series_rng(seed: int, location_id: str, drug_id: str, stream: int = 0) -> np.random.Generator:
    """A generator seeded by the run seed and the series ids (stable across batches and workers)."""
    return np.random.default_rng([seed, zlib.crc32(location_id.encode()), zlib.crc32(drug_id.encode()), stream])


def _basis_from_backtest(scores: list[backtest.FoldScore], chosen: str, metric: str, unit: str, n: int) -> str:
    means = pd.DataFrame([(s.model, getattr(s, metric)) for s in scores], columns=["m", "v"]).groupby("m")["v"].mean()
    others = means.drop(chosen).sort_values()
    folds = sum(1 for s in scores if s.model == chosen)
    label = "MASE" if metric == "mase" else "scaled pinball"
    if len(others) and others.iloc[0] < means[chosen]:
        versus = f"; kept over {others.index[0]} {others.iloc[0]:.2f}, within the tolerance"
    else:
        versus = f" vs {others.index[0]} {others.iloc[0]:.2f}" if len(others) else ""
    return f"{chosen} chosen by backtest ({label} {means[chosen]:.2f}{versus}, {folds} folds) on {n} {unit}"


#: ``map_batches(work, batches, step)``: ``work(batch)`` for each batch (each holds only its own series'
#: inputs, and ``len(batch)`` is its series count), results in batch order; ``step`` ("backtest" or
#: "forecast") names the pass for progress. The default runs them one after another in this process;
#: the flow passes one that runs them as tasks on its task runner.
BatchMap = Callable[[Callable[[Any], Any], list[Any], str], list[Any]]


def serial_map(work: Callable[[Any], Any], batches: list[Any], step: str = "") -> list[Any]:
    return [work(batch) for batch in batches]


def batches_of(n: int, size: int) -> list[list[int]]:
    """Indices ``0 .. n-1`` in consecutive batches of at most ``size``."""
    size = max(1, int(size))
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def forecast_panel(
    panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings,
    signals: dict[str, dict[int, float]] | None = None, reuse: Selection | None = None,
    map_batches: BatchMap = serial_map, batch_series: int = 64, calibrate_levels: tuple[float, ...] = (),
) -> PanelForecast:
    """Classify, backtest, choose, recalibrate and forecast every series of ``panel``.

    With ``reuse`` (an earlier run's ``selection`` over the same series), the backtests and the
    recalibration are skipped: each series refits its earlier choice on its current history. The
    recalibration covers the forecast quantiles, the window's service levels and ``calibrate_levels``
    (levels a later call reusing the selection will ask for, e.g. a what-if's grid).

    The per-series passes run over batches of ``batch_series`` series through ``map_batches``
    (in this process by default; a Dask cluster through the flow's task runner). What is pooled
    (sibling profiles, the global model, the recalibration) is computed here, once, so the result
    does not depend on how the batches were run.

    Runs single-threaded: every fit here is small, and BLAS or OpenMP threads spinning against each
    other (statsmodels, then the trees) made it many times slower on two cores. Parallelism belongs
    one level up, over batches of series.
    """
    with threadpool_limits(limits=1):
        work = _prepare(panel, window, as_of, settings, signals or {}, reuse, map_batches, calibrate_levels)
        batches = batches_of(len(work.keys), batch_series)
        if reuse is None:
            selected = map_batches(partial(_single_threaded, _select_batch), [work.subset(b) for b in batches],
                                   "backtest")
            chosen = [c for part in selected for c in part.chosen]
            # Two maps: the par level reads demand over the next days, so it is calibrated on the first
            # periods after each cutoff; the per-period quantiles of the forecast CSV on every horizon.
            pits = pd.DataFrame([row for part in selected for row in part.pit_rows],
                                columns=["model", "fold", "horizon", "pit"])
            near, near_report = fit_calibration(pits[pits["horizon"] <= settings.calibration_horizon_periods],
                                                work.targets)
            everywhere, all_report = fit_calibration(pits, work.targets)
            calibration_report = pd.concat([near_report.assign(scope="near"), all_report.assign(scope="all")],
                                           ignore_index=True)
            score_rows = [row for part in selected for row in part.score_rows]
        else:
            chosen, near, everywhere = list(reuse.chosen), reuse.near, reuse.all
            calibration_report, score_rows = pd.DataFrame(), []
        final = _prepare_final(work, chosen, near, everywhere)
        parts = map_batches(partial(_single_threaded, _forecast_batch), [final.subset(b) for b in batches], "forecast")
    keys_frame = panel.keys.reset_index(drop=True)
    forecast_rows = [frame for part in parts for frame in part[0]]
    calendar_rows = [frame for part in parts for frame in part[2]]
    return PanelForecast(
        forecast=pd.concat(forecast_rows, ignore_index=True) if forecast_rows else
        pd.DataFrame(columns=list(schema.FORECAST_CSV_COLUMNS)),
        protection=pd.DataFrame([row for part in parts for row in part[1]], columns=PROTECTION_COLUMNS),
        calendar=pd.concat(calendar_rows, ignore_index=True) if calendar_rows else
        pd.DataFrame(columns=CALENDAR_COLUMNS),
        classes=pd.concat([keys_frame, pd.DataFrame(work.classes, index=keys_frame.index)], axis=1),
        scores=pd.DataFrame(score_rows, columns=["location_id", "drug_id", "model", "train_periods", "mase",
                                                 "scaled_pinball", "coverage_q95", "chosen"]),
        calibration=calibration_report,
        selection=Selection(tuple(work.keys), tuple(chosen), near, everywhere),
    )


def _single_threaded(work: Callable[[Any], Any], batch: Any) -> Any:
    """``work(batch)`` with BLAS/OpenMP pools at one thread (also on a Dask worker)."""
    with threadpool_limits(limits=1):
        return work(batch)


@dataclass
class _PanelWork:
    """The panel prepared for the per-series passes: histories, classes, contexts, pooled inputs."""

    keys: list[tuple[str, str]]
    histories: list[np.ndarray]
    classes: list[dict]
    contexts: list[SeriesContext]
    candidates: list[list[str]]
    global_folds: dict[int, dict[int, np.ndarray]]
    service_levels: np.ndarray
    targets: tuple[float, ...]
    window: ProtectionWindow
    as_of: date
    settings: ForecastSettings
    horizon_fc: int
    step: int
    first_forecast: int

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, batch: list[int]) -> _PanelWork:
        """The same work for the series ``batch`` only (renumbered from 0): what one batch task receives."""
        levels = self.service_levels[batch]
        window = replace(self.window, lead_time_days=np.asarray(self.window.lead_time_days)[batch], service_level=levels)
        return replace(self, keys=[self.keys[i] for i in batch], histories=[self.histories[i] for i in batch],
                       classes=[self.classes[i] for i in batch], contexts=[self.contexts[i] for i in batch],
                       candidates=[self.candidates[i] for i in batch],
                       global_folds={j: self.global_folds[i] for j, i in enumerate(batch) if i in self.global_folds},
                       service_levels=levels, window=window)


@dataclass(frozen=True)
class _Selected:
    """One batch's pass 1: backtest scores, the chosen models' PITs, and the choices."""

    score_rows: list[tuple]
    pit_rows: list[tuple]  # (model, fold, horizon, pit)
    chosen: list[tuple[str, str]]


@dataclass
class _FinalWork:
    """Pass 3's inputs: the prepared panel, the choices, the calibrations and the shared calendar."""

    work: _PanelWork
    chosen: list[tuple[str, str]]
    near: Calibration
    everywhere: Calibration
    horizon: int
    horizon_paths: int
    starts: list[date]
    windows: DayWindows

    def __len__(self) -> int:
        return len(self.work)

    def subset(self, batch: list[int]) -> _FinalWork:
        return replace(self, work=self.work.subset(batch), chosen=[self.chosen[i] for i in batch])


def _prepare(panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings,
             signals: dict[str, dict[int, float]], reuse: Selection | None, map_batches: BatchMap,
             calibrate_levels: tuple[float, ...] = ()) -> _PanelWork:
    """Histories, classes and model contexts per series; sibling profiles and the global model's folds."""
    period = settings.period
    season_length = calendar.SEASON_LENGTH[period]
    horizon_fc = calendar.horizon_periods(settings.horizon_weeks, period)
    step = max(1, round(settings.backtest_step_weeks * 7 / calendar.DAYS_PER_PERIOD[period]))
    keys = [tuple(k) for k in panel.keys.itertuples(index=False)]
    service_levels = window.levels(len(keys))
    if reuse is not None and reuse.keys != tuple(keys):
        raise ValueError("reuse: the selection was made for other series")

    first_forecast = calendar.period_index(calendar.first_forecast_start(as_of, period), period)
    histories, classes_by_series = [], []
    for i in range(len(keys)):
        y, n_censored = censored_history(panel.history(i), season_length, settings.censor)
        histories.append(y)
        classes_by_series.append({**classify(y, season_length), "censored_periods": n_censored})
    borrowed = sibling_profiles(keys, histories, classes_by_series, first_forecast, season_length, settings)

    contexts, candidates_by_series = [], []
    for i, (_, drug_id) in enumerate(keys):
        y = histories[i]
        context = SeriesContext(season_length, settings.recent_window_periods, borrowed=borrowed.get(drug_id),
                                origin=first_forecast - len(y), signal=signals.get(drug_id))
        candidates = candidates_for(y, classes_by_series[i], season_length, settings, context.borrowed is not None)
        if context.signal and len(y) >= SIGNAL_MIN_HISTORY and candidates:
            candidates = [SIGNAL_REGRESSION, *candidates]  # a drug linked to a signal tries it first
        candidates_by_series.append(candidates)
        contexts.append(replace(context, members=tuple(candidates)))
    # The global model is backtested once per fold for all series, here, before the batches.
    global_folds = {} if reuse else global_backtest(histories, contexts, candidates_by_series, horizon_fc, step,
                                                    settings, map_batches)
    levels = (*np.unique(service_levels), *calibrate_levels)
    targets = tuple(sorted({*schema.QUANTILE_LEVELS, *(round(float(v), 6) for v in levels)}))
    return _PanelWork(keys, histories, classes_by_series, contexts, candidates_by_series, global_folds,
                      service_levels, targets, window, as_of, settings, horizon_fc, step, first_forecast)


def _select_batch(work: _PanelWork) -> _Selected:
    """Pass 1 for a batch: backtest each series' candidates on rolling origins and choose."""
    settings = work.settings
    season_length = calendar.SEASON_LENGTH[settings.period]
    unit = "weeks" if settings.period == "week" else "months"
    score_rows, pit_rows, chosen = [], [], []
    for i in range(len(work)):
        location_id, drug_id = work.keys[i]
        y, context, candidates = work.histories[i], work.contexts[i], work.candidates[i]
        with quiet_fitting():
            scores = backtest.backtest_series(
                y, candidates, context=context, horizon=work.horizon_fc, n_cutoffs=settings.backtest_cutoffs,
                step=work.step, n_paths=settings.backtest_paths, service_level=float(work.service_levels[i]),
                rng=series_rng(settings.seed, location_id, drug_id, 1),
                precomputed={GLOBAL_GBM: work.global_folds.get(i, {})},
            ) if candidates else []
        best = backtest.select(scores, settings.selection_metric, candidates, settings.selection_tolerance) if scores else None
        if best is None:
            chosen.append(choose_model(y, season_length, settings))
        else:
            basis = _basis_from_backtest(scores, best, settings.selection_metric, unit, len(y))
            if best == COMBINATION:
                basis = f"equal mix of {', '.join(candidates)}: " + basis
            if best == BORROWED_PROFILE:
                basis = f"new item, season borrowed from {drug_id} at other locations: " + basis
            chosen.append((best, basis))
        last_cutoffs = sorted({s.cutoff for s in scores}, reverse=True)
        for s in scores:
            score_rows.append((location_id, drug_id, s.model, s.cutoff, s.mase, s.scaled_pinball, s.coverage_q95,
                               s.model == best))
            if s.model == best:
                fold = last_cutoffs.index(s.cutoff)
                pit_rows.extend((best, fold, h + 1, u) for h, u in enumerate(s.pits))
    return _Selected(score_rows, pit_rows, chosen)


def _prepare_final(work: _PanelWork, chosen: list[tuple[str, str]], near: Calibration,
                   everywhere: Calibration) -> _FinalWork:
    """The horizon and calendar shared by every series, and the global model fitted on the whole panel."""
    settings, window, as_of = work.settings, work.window, work.as_of
    period = settings.period
    longest = int(window.lead_time_days.max(initial=0)) + window.review_period_days
    horizon = max(work.horizon_fc, calendar.periods_to_cover(as_of, period, longest))
    calendar_days = 7 * max(window.calendar_weeks - 1, 0) + longest
    horizon_paths = max(horizon, calendar.periods_to_cover(as_of, period, calendar_days))
    uses_global = [i for i, (name, _) in enumerate(chosen) if name == GLOBAL_GBM or (
        name == COMBINATION and GLOBAL_GBM in work.contexts[i].members)]
    if uses_global:
        season_length = calendar.SEASON_LENGTH[period]
        model = fit_global(work.histories, work.contexts, horizon_paths, season_length, settings.seed)
        points = model.predict_points(uses_global, horizon_paths)
        for i in uses_global:
            work.contexts[i] = replace(work.contexts[i], global_sampler=partial(model.sample_paths, i,
                                                                                point=points.get(i)))
    starts = calendar.forecast_period_starts(as_of, period, horizon_paths)
    windows = DayWindows(starts, period, as_of + timedelta(days=1))
    return _FinalWork(work, chosen, near, everywhere, horizon, horizon_paths, starts, windows)


def _forecast_batch(final: _FinalWork) -> tuple[list[pd.DataFrame], list[tuple], list[pd.DataFrame]]:
    """Pass 3 for a batch: fit the chosen model on the whole history, simulate, read the quantiles at the
    recalibrated levels: per period, and over L and L + R (this week and each calendar week)."""
    work, window = final.work, final.work.window
    forecast_rows, protection_rows, calendar_rows = [], [], []
    for i in range(len(work)):
        location_id, drug_id = work.keys[i]
        y = work.histories[i]
        service_level = float(work.service_levels[i])
        result = forecast_series(y, final.horizon_paths, work.contexts[i], work.settings,
                                 series_rng(work.settings.seed, location_id, drug_id), final.chosen[i])
        forecast_rows.append(_period_frame(location_id, drug_id, final.starts[: final.horizon], result,
                                           final.everywhere))
        level = final.near.level(result.model, service_level)
        protection_rows.append(_protection_row(location_id, drug_id, y, result, window.lead_time_days[i], window,
                                               final.windows, level, service_level))
        if window.calendar_weeks:
            calendar_rows.append(_calendar_frame(location_id, drug_id, result, int(window.lead_time_days[i]), window,
                                                 final.windows, level))
    return forecast_rows, protection_rows, calendar_rows


def fit_global(histories, contexts, horizon: int, season_length: int, seed: int) -> GlobalGBM:
    with quiet_fitting():
        return GlobalGBM(season_length=season_length, horizon=horizon, seed=seed).fit(
            histories, [c.origin for c in contexts])


def global_backtest(histories, contexts, candidates_by_series, horizon: int, step: int, settings: ForecastSettings,
                    map_batches: BatchMap = serial_map) -> dict[int, dict[int, np.ndarray]]:
    """Fold paths of the global model for every series that lists it: ``{series: {cutoff: paths}}``.

    Every series ends the period before the first forecast, so "k periods before the end" is one
    calendar date for all of them: each fold trains one global model on every history cut there.
    The folds are independent, so they run as batches too (one fold each).
    """
    wanted = [i for i, c in enumerate(candidates_by_series) if GLOBAL_GBM in c]
    if not wanted:
        return {}
    folds = [_GlobalFold(j, histories, contexts, wanted, horizon, step, settings) for j in range(settings.backtest_cutoffs)]
    paths_by_fold = map_batches(partial(_single_threaded, _global_fold), folds, "global model")
    out: dict[int, dict[int, np.ndarray]] = {}
    for fold_paths in paths_by_fold:
        if fold_paths is None:  # too little history this far back: this fold and the older ones are skipped
            break
        for i, (cutoff, paths) in fold_paths.items():
            out.setdefault(i, {})[cutoff] = paths
    return out


@dataclass(frozen=True)
class _GlobalFold:
    """One fold of the global model's backtest: train on every history cut ``horizon + j * step`` from its end."""

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


def _global_fold(fold: _GlobalFold) -> dict[int, tuple[int, np.ndarray]] | None:
    """``{series: (cutoff, paths)}`` for one fold, or None when there is too little history to train."""
    settings, back = fold.settings, fold.horizon + fold.j * fold.step
    cut = [h[: max(len(h) - back, 0)] for h in fold.histories]
    try:
        model = fit_global(cut, fold.contexts, fold.horizon, fold.contexts[0].season_length, settings.seed + fold.j)
    except ValueError:
        return None
    return {i: (len(cut[i]), model.sample_paths(i, fold.horizon, settings.backtest_paths,
                                                series_rng(settings.seed, "global", str(i), 2 + fold.j), point))
            for i, point in model.predict_points(fold.wanted, fold.horizon).items()}


def sibling_profiles(keys, histories, classes, first_forecast: int, season_length: int,
                     settings: ForecastSettings) -> dict[str, YearlyProfile]:
    """Per drug: the mean yearly profile of its seasonal series with two seasons of history.

    Profiles are fitted on absolute period indices (the series all end the period before
    ``first_forecast``), so a new store's series can use them in its own calendar.
    """
    period = YEAR_IN_PERIODS.get(season_length, float(season_length))
    by_drug: dict[str, list[YearlyProfile]] = {}
    for (_, drug_id), y, c in zip(keys, histories, classes, strict=True):
        strong = np.isfinite(c["seasonality_strength"]) and c["seasonality_strength"] >= settings.seasonal_strength_threshold
        if strong and len(y) >= settings.min_seasons * season_length:
            profile = fit_yearly_profile(np.log1p(y), period, min(MAX_HARMONICS, season_length // 2),
                                         origin=first_forecast - len(y))
            by_drug.setdefault(drug_id, []).append(profile)
    return {drug: average_profile(profiles) for drug, profiles in by_drug.items()}


PROTECTION_COLUMNS = [
    "location_id", "drug_id", "model", "basis", "history_periods", "lead_time_days", "service_level",
    "calibrated_level",
    "lead_time_demand_mean", "lead_time_demand_units", "protection_demand_mean", "protection_demand_units",
    "forecast_next_4_units", "actual_last_4_units",
]


CALENDAR_COLUMNS = [
    "location_id", "drug_id", "week_start", "demand_mean_units", "lead_time_demand_units", "protection_demand_units",
]


def _period_frame(location_id, drug_id, starts, result: SeriesForecast, calibration: Calibration) -> pd.DataFrame:
    levels = [calibration.level(result.model, q) for q in schema.QUANTILE_LEVELS]
    paths = result.paths[:, : len(starts)]
    quantiles = np.quantile(paths, levels, axis=0)
    return pd.DataFrame({
        "location_id": location_id, "drug_id": drug_id, "period_start": starts, "mean": paths.mean(axis=0),
        **dict(zip(schema.QUANTILE_COLUMNS, quantiles, strict=True)), "model": result.model,
    })


class DayWindows:
    """Period weights of day windows after as-of, computed once per (offset, length) in a run: every
    series shares the forecast periods, and lead times take a few values."""

    def __init__(self, starts: list[date], period: str, day_after: date):
        self.starts, self.period, self.day_after = starts, period, day_after
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def weights(self, offset_days: int, length_days: int) -> np.ndarray:
        """Share of each period in ``[day_after + offset, + length)`` (see ``calendar.window_weights``)."""
        key = (offset_days, length_days)
        if key not in self._cache:
            self._cache[key] = calendar.window_weights(
                self.starts, self.period, self.day_after + timedelta(days=offset_days), length_days)  # type: ignore[arg-type]
        return self._cache[key]


def protection_quantile(paths: np.ndarray, weights: np.ndarray, level: float) -> float:
    """The ``level`` quantile of demand summed over a window (``weights``: share of each period in it).

    Monotone by construction: a higher level, or a longer window (weights no smaller, demand never
    negative), never gives a smaller quantile.
    """
    return float(np.quantile(paths @ weights, level))


def _protection_row(location_id, drug_id, y, result: SeriesForecast, lead_time_days, window: ProtectionWindow,
                    windows: DayWindows, level: float, service_level: float) -> tuple:
    """Mean and recalibrated service-level quantile of demand over L and L + R, from the day after as-of."""
    lead = int(lead_time_days)
    lead_weights = windows.weights(0, lead)
    prot_weights = windows.weights(0, lead + window.review_period_days)
    lead_demand, prot_demand = result.paths @ lead_weights, result.paths @ prot_weights
    return (
        location_id, drug_id, result.model, result.basis, len(y), lead, service_level, level,
        float(lead_demand.mean()), protection_quantile(result.paths, lead_weights, level),
        float(prot_demand.mean()), protection_quantile(result.paths, prot_weights, level),
        float(result.paths[:, :4].sum(axis=1).mean()), float(y[-4:].sum()) if len(y) >= 4 else np.nan,
    )


def _calendar_frame(location_id, drug_id, result: SeriesForecast, lead: int, window: ProtectionWindow,
                    windows: DayWindows, level: float) -> pd.DataFrame:
    """Reviews 0 .. n-1 weeks after the day after as-of: mean demand that week and the quantiles of demand
    over L and L + R from the review day."""
    offsets = [7 * k for k in range(window.calendar_weeks)]

    def weights(length: int) -> np.ndarray:
        return np.column_stack([windows.weights(offset, length) for offset in offsets])

    week, lead_d, prot_d = (result.paths @ weights(n) for n in (7, lead, lead + window.review_period_days))
    return pd.DataFrame({
        "location_id": location_id, "drug_id": drug_id,
        "week_start": [windows.day_after + timedelta(days=offset) for offset in offsets],
        "demand_mean_units": week.mean(axis=0),
        "lead_time_demand_units": np.quantile(lead_d, level, axis=0),
        "protection_demand_units": np.quantile(prot_d, level, axis=0),
    })
