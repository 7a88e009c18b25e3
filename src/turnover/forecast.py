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
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from turnover import backtest, calendar, peak, schema
from turnover.calibration import MIN_PITS, Calibration, fit_calibration
from turnover.classify import classify_panel
from turnover.demand import censored_panel
from turnover.fitting import Group, cap_paths, group_paths, min_history
from turnover.io.demand import DemandPanel
from turnover.models import (
    BORROWED_PROFILE,
    COMBINATION,
    GLOBAL_GBM,
    SIGNAL_REGRESSION,
    GlobalGBM,
    GlobalSeries,
    Profiles,
    ResidualNoise,
    SeriesContext,
    SignalRegression,
    make_model,
)
from turnover.models.batch import MAX_HARMONICS, YEAR_IN_PERIODS, by_length, mean_profiles, stack_profiles
from turnover.settings import ForecastSettings

log = logging.getLogger(__name__)

SEASONAL_MODELS = ("dynamic_harmonic", "harmonic_trend", "holt_winters", "seasonal_naive")
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

    ``service_level`` is one level or one per series (service tiers). ``calendar_periods`` > 0 also
    reads the same quantiles for reviews 1 .. n periods ahead (the par calendar: weeks, or months in a
    monthly run; see ``calendar.review_windows``). ``curve_levels`` also reads, per series, the quantiles
    and the expected shortage per review cycle at each of those levels (``ServiceCurves``: what a fill-rate
    target allocates over, ``turnover.allocation``).
    """

    lead_time_days: np.ndarray
    review_period_days: int
    service_level: float | np.ndarray
    calendar_periods: int = 0
    curve_levels: tuple[float, ...] = ()  # also read every series at each of these levels (ServiceCurves)

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

    A later run can reuse it and only refit (pass 3): the weekly parameter refresh between full
    reselections (and the inventory replay's weeks). ``by_backtest`` tells a backtest's choice from a
    rule's (no, short or intermittent history); ``fresh`` which series this run selected (rather than reused).
    """

    keys: tuple[tuple[str, str], ...]
    chosen: tuple[tuple[str, str], ...]
    near: Calibration
    all: Calibration
    by_backtest: tuple[bool, ...]
    fresh: tuple[bool, ...]

    def frame(self) -> pd.DataFrame:
        """One row per series: location_id, drug_id, model, basis, by_backtest, fresh."""
        return pd.DataFrame({
            "location_id": [k[0] for k in self.keys], "drug_id": [k[1] for k in self.keys],
            "model": [c[0] for c in self.chosen], "basis": [c[1] for c in self.chosen],
            "by_backtest": list(self.by_backtest), "fresh": list(self.fresh),
        })


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


def series_candidates(y: np.ndarray, classes: dict, season_length: int, settings: ForecastSettings,
                      context: SeriesContext) -> list[str]:
    """:func:`candidates_for` with what the context offers: a signal-linked drug tries the signal regression first."""
    candidates = candidates_for(y, classes, season_length, settings, context.borrowed is not None)
    if context.signal and len(y) >= SIGNAL_MIN_HISTORY and candidates:
        candidates = [SIGNAL_REGRESSION, *candidates]
    return candidates


def signal_until(signal: dict[int, float] | None, last: int) -> dict[int, float] | None:
    """The signal's values up to period index ``last`` (what had been published by then)."""
    return {k: v for k, v in signal.items() if k <= last} if signal else signal


@dataclass(frozen=True)
class FoldView:
    """What the engine knew at one backtest fold's cutoff, ``back`` periods before the end of every history
    (all series end on the same period): each series' candidates judged on its history up to there, and the
    sibling profiles fitted on those histories. Censoring fills, classes, candidates, profiles and the signal of
    a fold never read a period after its cutoff."""

    back: int
    candidates: list[tuple[str, ...]]
    borrowed: dict[str, Profiles]

    def context(self, context: SeriesContext, drug_id: str) -> SeriesContext:
        """The series' context as of the fold: its drug's sibling profile then, the signal published by then."""
        last = max(context.signal) - self.back if context.signal else 0
        return replace(context, borrowed=self.borrowed.get(drug_id), signal=signal_until(context.signal, last))


def cut_histories(raw: list[np.ndarray], back: int) -> list[np.ndarray]:
    """Every history without its last ``back`` periods."""
    return [y[: max(len(y) - back, 0)] for y in raw]


def fold_views(keys, raw: list[np.ndarray], contexts: list[SeriesContext], first_forecast: int, horizon: int,
               step: int, settings: ForecastSettings, needed: list[int] | None = None) -> list[FoldView]:
    """One :class:`FoldView` per backtest fold (0 = the latest cutoff, ``horizon`` periods before the end).

    ``needed``: the series whose candidates are read (default all; a refit backtests only the series it
    selects afresh), the others' are left empty. Only the series of their drugs are censored and classified:
    a drug's sibling profile is the mean of its own series' profiles. (A least-squares fit's last bits depend
    on the other rows fitted with it, so a profile may differ from a full run's in its last bits.)
    """
    season_length = contexts[0].season_length if contexts else calendar.SEASON_LENGTH[settings.period]
    if needed is None:
        rows = list(range(len(keys)))
    else:
        drugs = {keys[i][1] for i in needed}
        rows = [i for i, key in enumerate(keys) if key[1] in drugs]
    at = {i: r for r, i in enumerate(rows)}
    kept_keys, kept_raw = [keys[i] for i in rows], [raw[i] for i in rows]
    views = []
    for j in range(settings.backtest_cutoffs):
        back = horizon + j * step
        histories, _ = censored_panel(cut_histories(kept_raw, back), season_length, settings.censor)
        classes = classify_panel(histories, season_length)
        borrowed = sibling_profiles(kept_keys, histories, classes, first_forecast - back, season_length, settings)
        view = FoldView(back, [()] * len(keys), borrowed)
        for i in rows if needed is None else needed:
            view.candidates[i] = tuple(series_candidates(histories[at[i]], classes[at[i]], season_length, settings,
                                                         view.context(contexts[i], keys[i][1])))
        views.append(view)
    return views


@contextmanager
def quiet_fitting():
    """Silence the optimiser's convergence notes on short, noisy series: backtests judge accuracy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def fit_paths(name: str, y: np.ndarray, context: SeriesContext, horizon: int, n_paths: int,
              rng: np.random.Generator) -> np.ndarray:
    """Paths of model ``name`` fitted on one history (the per-series form of :func:`turnover.fitting.group_paths`,
    capped as it caps them)."""
    return cap_paths(make_model(name, context).fit(y).sample_paths(horizon, n_paths, rng), y)


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
                paths = fit_paths(candidate, y, context, horizon, settings.n_paths, rng)
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


def _basis_from_backtest(names: list[str], means: np.ndarray, chosen: str, folds: int, metric: str, unit: str,
                         n: int) -> str:
    """The reason for a backtest's choice: its mean score against the best other (``means`` per ``names``)."""
    scored = {m: v for m, v in zip(names, means, strict=True) if np.isfinite(v)}
    others = sorted((v, m) for m, v in scored.items() if m != chosen)
    label = "MASE" if metric == "mase" else "scaled pinball"
    if others and others[0][0] < scored[chosen]:
        versus = f"; kept over {others[0][1]} {others[0][0]:.2f}, within the tolerance"
    else:
        versus = f" vs {others[0][1]} {others[0][0]:.2f}" if others else ""
    return f"{chosen} chosen by backtest ({label} {scored[chosen]:.2f}{versus}, {folds} folds) on {n} {unit}"


#: ``map_batches(work, batches, step)``: ``work(batch)`` for each batch (each holds only its own series'
#: inputs, and ``len(batch)`` is its series count), results in batch order; ``step`` ("backtest" or
#: "forecast") names the pass for progress. The default runs them one after another in this process;
#: the flow passes one that runs them as tasks on its task runner.
BatchMap = Callable[[Callable[[Any], Any], list[Any], str], list[Any]]


def serial_map(work: Callable[[Any], Any], batches: list[Any], step: str = "") -> list[Any]:
    return [work(batch) for batch in batches]


def batches_by(series: Iterable[int], key: Callable[[int], Any], size: int) -> list[list[int]]:
    """``series`` in batches of at most ``size``, ordered by ``key`` (stable): series fitted together (of one
    key) land in the same batch, so a batch holds a few large groups rather than many small ones."""
    size = max(1, int(size))
    order = sorted(series, key=key)
    return [order[i : i + size] for i in range(0, len(order), size)]


def forecast_panel(
    panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings,
    signals: dict[str, dict[int, float]] | None = None, reuse: Selection | None = None,
    map_batches: BatchMap = serial_map, batch_series: int = 1000, calibrate_levels: tuple[float, ...] = (),
) -> PanelForecast:
    """Classify, backtest, choose, recalibrate and forecast every series of ``panel``.

    With ``reuse`` (an earlier run's ``selection``), the backtests and the recalibration are skipped for
    the series it covers: each refits its earlier choice on its current history, with the earlier
    recalibration maps; series it does not cover (new ones) are classified, backtested and chosen. The
    recalibration covers the forecast quantiles, the window's service levels and ``calibrate_levels``
    (levels a later call reusing the selection will ask for, e.g. a what-if's grid).

    The per-series passes run over batches of ``batch_series`` series through ``map_batches``
    (in this process by default; a Dask cluster through the flow's task runner). Within a batch, the
    series of equal length and candidates are fitted together, one array operation per model and fold
    (:mod:`turnover.fitting`). What is pooled (sibling profiles, the global model, the recalibration)
    is computed here, once, so the result does not depend on how the batches were run.

    Runs single-threaded: BLAS or OpenMP threads spinning against each other made it many times slower
    on two cores. Parallelism belongs one level up, over batches of series.
    """
    with threadpool_limits(limits=1):
        work = _prepare(panel, window, as_of, settings, signals or {}, reuse, map_batches, calibrate_levels)
        stored = dict(zip(reuse.keys, zip(reuse.chosen, reuse.by_backtest, strict=True), strict=True)) if reuse else {}
        fresh = [i for i, key in enumerate(work.keys) if key not in stored]
        chosen: list = [stored[key][0] if key in stored else None for key in work.keys]
        by_backtest = [key in stored and stored[key][1] for key in work.keys]
        selected, pit_parts = [], []
        if fresh:  # pass 1 for every series without a choice to reuse (all of them in a full run)
            batches = batches_by(fresh, partial(_backtest_key, work), batch_series)
            selected = map_batches(partial(_single_threaded, _select_batch), [work.subset(b) for b in batches],
                                   "backtest")
            for batch, part in zip(batches, selected, strict=True):
                for i, pick, flag in zip(batch, part.chosen, part.by_backtest, strict=True):
                    chosen[i], by_backtest[i] = pick, flag
                local = part.pits["series"].to_numpy(dtype=np.int64)
                pit_parts.append(part.pits.assign(series=np.asarray(batch, dtype=np.int64)[local]))
        scores = _stacked([part.scores for part in selected], SCORE_COLUMNS)
        if reuse is None:
            # Two maps: the par level reads demand over the next days, so it is calibrated on the first
            # periods after each cutoff; the per-period quantiles of the forecast CSV on every horizon.
            # The PITs series by series (in panel order), whatever batches they were computed in.
            pits = _stacked(pit_parts, PIT_COLUMNS).sort_values("series", kind="stable", ignore_index=True)
            near, near_report = fit_calibration(par_window_pits(pits, settings.calibration_horizon_periods),
                                                work.targets)
            everywhere, all_report = fit_calibration(pits[pits["horizon"] >= 1], work.targets)
            calibration_report = pd.concat([near_report.assign(scope="near"), all_report.assign(scope="all")],
                                           ignore_index=True)
        else:  # the reused selection's maps (new series' PITs are too few to refit them)
            near, everywhere, calibration_report = reuse.near, reuse.all, pd.DataFrame()
        batches = batches_by(range(len(work.keys)), lambda i: _forecast_key(work, chosen, i), batch_series)
        final = _prepare_final(work, chosen, near, everywhere)
        parts = map_batches(partial(_single_threaded, _forecast_batch), [final.subset(b) for b in batches], "forecast")
    keys_frame = panel.keys.reset_index(drop=True)
    return PanelForecast(
        forecast=_in_series_order([p.forecast for p in parts], schema.FORECAST_CSV_COLUMNS, "period_start"),
        protection=_in_series_order([p.protection for p in parts], PROTECTION_COLUMNS),
        calendar=_in_series_order([p.calendar for p in parts], CALENDAR_COLUMNS, "week_start"),
        classes=pd.concat([keys_frame, pd.DataFrame(work.classes, index=keys_frame.index)], axis=1),
        scores=scores.sort_values(["location_id", "drug_id", "model", "train_periods"], kind="stable",
                                  ignore_index=True) if len(scores) else scores,
        calibration=calibration_report,
        selection=Selection(tuple(work.keys), tuple(chosen), near, everywhere, tuple(by_backtest),
                            tuple(key not in stored for key in work.keys)),
    )


SCORE_COLUMNS = ["location_id", "drug_id", "model", "train_periods", "mase", "scaled_pinball", "coverage_q95",
                 "window_pinball", "chosen"]
PIT_COLUMNS = ["series", "model", "fold", "horizon", "pit"]


def par_window_pits(pits: pd.DataFrame, near_periods: int) -> pd.DataFrame:
    """The PITs the par's level is recalibrated on, per model: of demand summed over the par's window (lead
    time + review period, ``horizon`` 0), the quantity a par must cover, where the model has enough of them;
    else of each of the first ``near_periods`` periods (a sum's spread is not a period's: the per-period map
    does not carry to the window, so it is only the fallback)."""
    window = pits[pits["horizon"] == 0]
    counts = window.groupby("model").size()
    enough = set(counts[counts >= MIN_PITS].index)
    near = pits[(pits["horizon"] >= 1) & (pits["horizon"] <= near_periods) & ~pits["model"].isin(enough)]
    return pd.concat([window[window["model"].isin(enough)], near], ignore_index=True)


def _stacked(frames: list[pd.DataFrame], columns) -> pd.DataFrame:
    """The frames with rows as one (a batch without any gives an empty frame: left out, as pandas will not
    let it set the columns' types); an empty frame of ``columns`` if none has rows."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def _in_series_order(frames: list[pd.DataFrame], columns, *then: str) -> pd.DataFrame:
    """The batches' frames as one, rows by series (location, drug) and then ``then``."""
    return _stacked(frames, columns).sort_values(["location_id", "drug_id", *then], kind="stable", ignore_index=True)


def _single_threaded(work: Callable[[Any], Any], batch: Any) -> Any:
    """``work(batch)`` with BLAS/OpenMP pools at one thread (also on a Dask worker)."""
    with threadpool_limits(limits=1):
        return work(batch)


#: Series fitted together at most (bounds the arrays of paths: rows x paths x periods).
GROUP_ROWS = {"backtest": 256, "forecast": 128}


@dataclass
class _PanelWork:
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

    def subset(self, batch: list[int]) -> _PanelWork:
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


def _backtest_key(work: _PanelWork, i: int) -> tuple:
    """Series backtested together: equal history length, candidates and candidates of earlier folds."""
    return len(work.histories[i]), tuple(work.candidates[i]), _earlier_candidates(work, i)


def _forecast_key(work: _PanelWork, chosen: list[tuple[str, str]], i: int) -> tuple:
    """Series forecast together: equal history length and model (a combination: and equal members). A model
    fitted over rows reads nothing else of the context (its season and window are the panel's)."""
    name = chosen[i][0]
    return len(work.histories[i]), name, work.contexts[i].members if name == COMBINATION else ()


@dataclass(frozen=True)
class _Selected:
    """One batch's pass 1: backtest scores, the chosen models' PITs, and the choices."""

    scores: pd.DataFrame  # SCORE_COLUMNS
    pits: pd.DataFrame  # model, fold, horizon, pit
    chosen: list[tuple[str, str]]
    by_backtest: list[bool]


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
    global_points: dict[int, tuple[np.ndarray, float, int]]  # series -> the final model's predict_points entry
    global_noise: ResidualNoise | None

    def __len__(self) -> int:
        return len(self.work)

    def subset(self, batch: list[int]) -> _FinalWork:
        return replace(self, work=self.work.subset(batch), chosen=[self.chosen[i] for i in batch],
                       global_points={j: self.global_points[i] for j, i in enumerate(batch) if i in self.global_points})


def _prepare(panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings,
             signals: dict[str, dict[int, float]], reuse: Selection | None, map_batches: BatchMap,
             calibrate_levels: tuple[float, ...] = ()) -> _PanelWork:
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
    return _PanelWork(keys, histories, raw, classes_by_series, contexts, candidates_by_series, global_folds,
                      global_noise, service_levels, targets, window, as_of, settings, horizon_fc, step, first_forecast,
                      folds)


def _uniforms(work: _PanelWork, rows: list[int], stream: int, shape: tuple[int, ...],
              extra: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray | None, list[np.random.Generator]]:
    """Each series' own uniforms (``shape``, then ``extra`` if given) from its id-seeded generator, stacked
    over ``rows``; and the generators, for what is fitted one series at a time."""
    rngs = [series_rng(work.settings.seed, *work.keys[i], stream) for i in rows]
    U = np.stack([rng.random(shape, dtype=np.float32) for rng in rngs])
    V = np.stack([rng.random(extra) for rng in rngs]) if extra else None
    return U, V, rngs


def _select_batch(work: _PanelWork) -> _Selected:
    """Pass 1 for a batch: backtest each series' candidates on rolling origins and choose, the series of
    equal length and candidates together."""
    settings = work.settings
    season_length = calendar.SEASON_LENGTH[settings.period]
    unit = "weeks" if settings.period == "week" else "months"
    chosen: list[tuple[str, str] | None] = [None] * len(work)
    by_backtest = [False] * len(work)
    score_frames, pit_frames = [], []
    for rows in work.groups(partial(_backtest_key, work), GROUP_ROWS["backtest"]):
        candidates = work.candidates[rows[0]]
        if not candidates:
            for i in rows:
                chosen[i] = choose_model(work.histories[i], season_length, settings)
            continue
        tried = [*candidates, *_earlier_candidates(work, rows[0])]
        Y = np.vstack([work.histories[i] for i in rows])
        raw = np.vstack([work.raw[i] for i in rows])
        n_folds, horizon = settings.backtest_cutoffs, work.horizon_fc
        U, ties, rngs = _uniforms(work, rows, 1, (n_folds, settings.backtest_paths, horizon), (n_folds, horizon))
        fold_contexts = [[view.context(work.contexts[i], work.keys[i][1]) for i in rows] for view in work.folds]

        def fold_fit(name: str, train: np.ndarray, fold: int, rows=rows, U=U, rngs=rngs, contexts=fold_contexts):
            if name == GLOBAL_GBM:
                points = [work.global_folds.get(i, {}).get(fold) for i in rows]
                if any(p is None for p in points) or fold not in work.global_noise:
                    return None
                return work.global_noise[fold].paths(points, U[:, fold])
            return group_paths(name, train, U[:, fold], Group(contexts[fold], rngs))

        def known(c: int, raw=raw) -> np.ndarray:
            # the fold's history with its censored periods filled from the fold's own span
            return np.vstack(censored_panel(list(raw[:, :c]), season_length, settings.censor)[0]).reshape(len(raw), c)

        def allowed(name: str, fold: int, rows=rows) -> np.ndarray:
            return np.array([name in work.folds[fold].candidates[i] for i in rows])

        least = {m: h for m in tried if (h := min_history(m, work.contexts[rows[0]])) is not None}
        with quiet_fitting():
            scores = backtest.backtest_batch(
                Y, [m for m in tried if m in least], fit=fold_fit, min_history=least, horizon=horizon,
                n_cutoffs=n_folds, step=work.step, service_level=work.service_levels[rows],
                season_length=season_length, ties=ties, known=known, allowed=allowed,
                members=[m for m in candidates if m in least], window=_par_windows(work, rows, horizon))
        best = backtest.select(scores, settings.selection_metric, candidates, settings.selection_tolerance)
        score_frames.append(_score_frame(work, rows, scores, best))
        pit_frames.append(_pit_frame(rows, scores, best, Y.shape[1], horizon, work.step))
        for r, i in enumerate(rows):
            chosen[i] = _chosen(work, i, scores, r, best[r], candidates, unit)
            by_backtest[i] = bool(best[r] >= 0)
    return _Selected(
        _stacked(score_frames, SCORE_COLUMNS),
        _stacked(pit_frames, PIT_COLUMNS),
        chosen,  # type: ignore[arg-type]
        by_backtest,
    )


def _par_windows(work: _PanelWork, rows: list[int], horizon: int) -> np.ndarray:
    """Per row, the share of each period after a cutoff in the par's window (its lead time + the review
    period, from the cutoff's first day): what a fold's par would have had to cover."""
    days = np.asarray(work.window.lead_time_days, dtype=float)[rows] + work.window.review_period_days
    periods = days / calendar.DAYS_PER_PERIOD[work.settings.period]
    return np.clip(periods[:, None] - np.arange(horizon)[None, :], 0.0, 1.0)


def _earlier_candidates(work: _PanelWork, i: int) -> tuple[str, ...]:
    """Models series ``i`` had as candidates at some fold but has no longer (backtested there, never chosen now)."""
    now = set(work.candidates[i])
    return tuple(dict.fromkeys(m for view in work.folds for m in view.candidates[i] if m not in now))


def _chosen(work: _PanelWork, i: int, scores: backtest.Scores, r: int, best: int, candidates: list[str],
            unit: str) -> tuple[str, str]:
    """Series ``i``'s model and the reason, from row ``r`` of its group's backtest."""
    settings, y = work.settings, work.histories[i]
    if best < 0:
        return choose_model(y, calendar.SEASON_LENGTH[settings.period], settings)
    values = getattr(scores, settings.selection_metric)[:, r, :]
    finite = np.isfinite(values)
    competing = np.isin(scores.models, [*candidates, COMBINATION])  # not the models of earlier folds only
    means = np.where(finite.any(axis=1) & competing,
                     np.where(finite, values, 0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1), np.nan)
    name = scores.models[best]
    basis = _basis_from_backtest(scores.models, means, name, int(finite[best].sum()), settings.selection_metric, unit,
                                 len(y))
    if name == COMBINATION:
        basis = f"equal mix of {', '.join(candidates)}: " + basis
    if name == BORROWED_PROFILE:
        basis = f"new item, season borrowed from {work.keys[i][1]} at other locations: " + basis
    return name, basis


def _score_frame(work: _PanelWork, rows: list[int], scores: backtest.Scores, best: np.ndarray) -> pd.DataFrame:
    """One row per series, model and fold scored."""
    m, r, k = np.nonzero(np.isfinite(scores.mase))
    keys = np.array([work.keys[i] for i in rows], dtype=object).reshape(len(rows), 2)
    return pd.DataFrame({
        "location_id": keys[r, 0], "drug_id": keys[r, 1], "model": np.asarray(scores.models, dtype=object)[m],
        "train_periods": np.asarray(scores.cutoffs)[k], "mase": scores.mase[m, r, k],
        "scaled_pinball": scores.scaled_pinball[m, r, k], "coverage_q95": scores.coverage_q95[m, r, k],
        "window_pinball": scores.window_pinball[m, r, k] if scores.window_pinball is not None else np.nan,
        "chosen": best[r] == m,
    })


def _pit_frame(rows: list[int], scores: backtest.Scores, best: np.ndarray, n: int, horizon: int,
               step: int) -> pd.DataFrame:
    """The chosen models' PITs: series (of ``rows``), model, fold (0 = the latest), horizon (1, 2, ...; 0: demand
    over the par's window, lead time + review period), PIT."""
    r = np.flatnonzero(best >= 0)
    series = np.asarray(rows, dtype=np.int64)[r]
    chosen_pits = scores.pits[best[r], r]  # rows x cutoffs x horizon
    rr, k, h = np.nonzero(np.isfinite(chosen_pits))
    folds = (n - horizon - np.asarray(scores.cutoffs)) // step
    models = np.asarray(scores.models, dtype=object)
    frame = pd.DataFrame({"series": series[rr], "model": models[best[r][rr]], "fold": folds[k], "horizon": h + 1,
                          "pit": chosen_pits[rr, k, h]})
    if scores.window_pits is None:
        return frame
    window = scores.window_pits[best[r], r]  # rows x cutoffs
    rw, kw = np.nonzero(np.isfinite(window))
    return pd.concat([frame, pd.DataFrame({"series": series[rw], "model": models[best[r][rw]], "fold": folds[kw],
                                           "horizon": 0, "pit": window[rw, kw]})], ignore_index=True)


def _prepare_final(work: _PanelWork, chosen: list[tuple[str, str]], near: Calibration,
                   everywhere: Calibration) -> _FinalWork:
    """The horizon and calendar shared by every series, and the global model fitted on the whole panel."""
    settings, window, as_of = work.settings, work.window, work.as_of
    period = settings.period
    longest = int(window.lead_time_days.max(initial=0)) + window.review_period_days
    horizon = max(work.horizon_fc, calendar.periods_to_cover(as_of, period, longest))
    reviews = calendar.review_windows(as_of, period, max(window.calendar_periods, 1))
    calendar_days = reviews[-1][0] + longest
    horizon_paths = max(horizon, calendar.periods_to_cover(as_of, period, calendar_days))
    uses_global = [i for i, (name, _) in enumerate(chosen) if name == GLOBAL_GBM or (
        name == COMBINATION and GLOBAL_GBM in work.contexts[i].members)]
    points: dict[int, tuple[np.ndarray, float, int]] = {}
    noise = None
    if uses_global:
        season_length = calendar.SEASON_LENGTH[period]
        model = fit_global(work.histories, work.contexts, horizon_paths, season_length, settings.seed)
        points, noise = model.predict_points(uses_global, horizon_paths), model.noise()
        for i in uses_global:
            work.contexts[i] = replace(work.contexts[i], global_sampler=partial(noise_sampler, noise, points.get(i)))
    starts = calendar.forecast_period_starts(as_of, period, horizon_paths)
    windows = DayWindows(starts, period, as_of + timedelta(days=1))
    return _FinalWork(work, chosen, near, everywhere, horizon, horizon_paths, starts, windows, points, noise)


def noise_sampler(noise: ResidualNoise, point: tuple[np.ndarray, float, int] | None, horizon: int, n_paths: int,
                  rng: np.random.Generator) -> np.ndarray:
    """One series' global-model paths (what a per-series fallback calls)."""
    if point is None:
        raise ValueError("global_gbm: no forecast for this series (too little history)")
    return noise.paths([point], rng.random((1, n_paths, horizon)))[0]


@dataclass(frozen=True)
class _Forecasts:
    forecast: pd.DataFrame
    protection: pd.DataFrame
    calendar: pd.DataFrame


def _forecast_batch(final: _FinalWork) -> _Forecasts:
    """Pass 3 for a batch: fit the chosen model on the whole history, simulate, read the quantiles at the
    recalibrated levels: per period, and over L and L + R (this week and each calendar week). Series of
    equal length and model are fitted together; a series whose model fails falls back on its own."""
    work = final.work
    settings = work.settings
    forecasts, protections, calendars = [], [], []
    series: list[int] = []  # the batch's series in the order of the parts' rows
    for rows in work.groups(partial(_forecast_key, work, final.chosen), GROUP_ROWS["forecast"]):
        name = final.chosen[rows[0]][0]
        Y = np.vstack([work.histories[i] for i in rows])
        U, _, rngs = _uniforms(work, rows, 0, (settings.n_paths, final.horizon_paths))
        group = Group([work.contexts[i] for i in rows], rngs)
        if name in (GLOBAL_GBM, COMBINATION) and all(i in final.global_points for i in rows):
            group = replace(group, global_points=[final.global_points[i] for i in rows], global_noise=final.global_noise)
        with quiet_fitting():
            paths = group_paths(name, Y, U, group)
        models = [name] * len(rows)
        bases = [final.chosen[i][1] for i in rows]
        for r in np.flatnonzero(~np.all(np.isfinite(paths), axis=(1, 2))):
            i = rows[r]  # this series' model failed: it falls back on its own
            result = forecast_series(work.histories[i], final.horizon_paths, work.contexts[i], settings,
                                     series_rng(settings.seed, *work.keys[i]), (name, bases[r]))
            paths[r], models[r], bases[r] = result.paths, result.model, result.basis
        for model in dict.fromkeys(models):
            at = [r for r, m in enumerate(models) if m == model]
            part = [rows[r] for r in at]
            series.extend(part)
            forecasts.append(_period_columns(final, part, model, paths[at]))
            protection, cal = _protection(final, part, model, [bases[r] for r in at], paths[at])
            protections.append(protection)
            calendars.append(cal)
    if not series:
        return _Forecasts(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    protection_frame = peak.history_peaks(  # what the par's peak-season guard compares with (turnover.peak)
        _joined(protections), [work.histories[i] for i in series], [work.contexts[i].signal for i in series],
        [work.contexts[i].origin for i in series], review_days=work.window.review_period_days,
        season_length=calendar.SEASON_LENGTH[settings.period], period_days=calendar.DAYS_PER_PERIOD[settings.period])
    calendar_frame = _joined(calendars) if work.window.calendar_periods else pd.DataFrame(columns=CALENDAR_COLUMNS)
    return _Forecasts(_joined(forecasts), protection_frame, calendar_frame)


def _joined(parts: list[dict[str, Any]]) -> pd.DataFrame:
    """One frame of the model groups' columns (``{column: array or list}`` each, same columns), in order: one
    frame per batch rather than one per group, whose construction cost as much as the numbers in it."""
    columns = {}
    for name in parts[0]:
        pieces = [part[name] for part in parts]
        if all(isinstance(p, np.ndarray) for p in pieces):
            columns[name] = np.concatenate(pieces)
        else:  # lists (of strings, or of each series' curve arrays): kept as Python objects
            columns[name] = [v for p in pieces for v in p]
    return pd.DataFrame(columns)


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
    by_fold = map_batches(partial(_single_threaded, _global_fold), folds, "global model")
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


def sibling_profiles(keys, histories, classes, first_forecast: int, season_length: int,
                     settings: ForecastSettings) -> dict[str, Profiles]:
    """Per drug: the mean yearly profile of its seasonal series with two seasons of history (one row each).

    Profiles are fitted on absolute period indices (the series all end the period before
    ``first_forecast``), so a new store's series can use them in its own calendar.
    """
    period = YEAR_IN_PERIODS.get(season_length, float(season_length))
    harmonics = min(MAX_HARMONICS, season_length // 2)
    strong = [i for i, (y, c) in enumerate(zip(histories, classes, strict=True))
              if np.isfinite(c["seasonality_strength"]) and c["seasonality_strength"] >= settings.seasonal_strength_threshold
              and len(y) >= settings.min_seasons * season_length]
    if not strong:
        return {}
    fitted, drugs = [], []
    for n, rows in by_length(histories, strong).items():
        Z = np.log1p(np.vstack([histories[i] for i in rows]))
        fitted.append(Profiles(period, harmonics).fit(Z, first_forecast - n))
        drugs.extend(keys[i][1] for i in rows)
    labels, means = mean_profiles(stack_profiles(fitted), np.asarray(drugs, dtype=object))
    return {str(drug): means.rows(np.array([k])) for k, drug in enumerate(labels)}


PROTECTION_COLUMNS = [
    "location_id", "drug_id", "model", "basis", "history_periods", "lead_time_days", "service_level",
    "calibrated_level",
    "lead_time_demand_mean", "lead_time_demand_units", "protection_demand_mean", "protection_demand_units",
    "forecast_next_4_units", "actual_last_4_units",
]


CALENDAR_COLUMNS = [
    "location_id", "drug_id", "week_start", "demand_mean_units", "lead_time_demand_units", "protection_demand_units",
]


def _period_columns(final: _FinalWork, rows: list[int], model: str, paths: np.ndarray) -> dict[str, Any]:
    """Mean and recalibrated quantiles per series and forecast period (``schema.FORECAST_CSV_COLUMNS``)."""
    starts = final.starts[: final.horizon]
    levels = [final.everywhere.level(model, q) for q in schema.QUANTILE_LEVELS]
    paths = np.sort(paths[:, :, : len(starts)], axis=1)
    quantiles = [backtest.row_quantile(paths, level, ordered=True) for level in levels]  # series x periods each
    keys = [final.work.keys[i] for i in rows]
    return {
        "location_id": np.repeat(np.array([k[0] for k in keys], dtype=object), len(starts)),
        "drug_id": np.repeat(np.array([k[1] for k in keys], dtype=object), len(starts)),
        "period_start": np.tile(np.array(starts, dtype=object), len(rows)),
        "mean": paths.mean(axis=1, dtype=np.float64).ravel(),
        **{c: quantiles[k].ravel().astype(float) for k, c in enumerate(schema.QUANTILE_COLUMNS)},
        "model": np.full(len(rows) * len(starts), model, dtype=object),
    }


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

    def matrix(self, offsets: list[int], length_days: int) -> np.ndarray:
        """Weights of the windows starting at each of ``offsets`` (periods x windows)."""
        return np.column_stack([self.weights(offset, length_days) for offset in offsets])


def protection_quantiles(paths: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per series (rows of ``paths``: series x paths x periods), the quantile at its level of demand summed
    over each window (``weights``: the share of each period in each window, periods x windows).

    Monotone by construction: a higher level, or a longer window (weights no smaller, demand never
    negative), never gives a smaller quantile.
    """
    return backtest.row_quantile(paths @ weights.astype(paths.dtype), levels)


#: The protection frame's columns that carry each series' ServiceCurves (arrays, dropped before storing).
CURVE_COLUMNS = ("curve_read_levels", "curve_lead_units", "curve_protection_units", "curve_shortage_units",
                 "curve_cycle_units", "curve_calendar_lead_units", "curve_calendar_protection_units")


class _CurveParts:
    """One model group's service curves, read lead-time group by lead-time group from the sorted window sums."""

    def __init__(self, n: int, n_reviews: int, read_levels: list[float]):
        self.read_levels = np.asarray(read_levels, dtype=float)
        shape = (n, n_reviews, len(read_levels))
        self.lead, self.protection = np.empty(shape), np.empty(shape)
        self.shortage, self.cycle = np.empty((n, len(read_levels))), np.empty(n)

    def read(self, at: np.ndarray, over_lead: np.ndarray, over_both: np.ndarray) -> None:
        """``over_lead`` / ``over_both``: sorted demand over L and L + R (series x paths x reviews)."""
        for g, level in enumerate(self.read_levels):
            self.lead[at, :, g] = backtest.row_quantile(over_lead, level, ordered=True)
            self.protection[at, :, g] = backtest.row_quantile(over_both, level, ordered=True)
        # This review's expected shortage per cycle at each level's whole-unit par (SPT eq. 6.13):
        # E[(D_{L+R} - S)^+] - E[(D_L - S)^+], the demand of the cycle the order cannot serve.
        par = np.ceil(self.protection[at, 0, :] - 1e-9)[:, None, :]  # series x 1 x levels
        both, lead = over_both[:, :, 0, None], over_lead[:, :, 0, None]  # series x paths x 1
        self.shortage[at] = np.maximum(
            np.maximum(both - par, 0).mean(axis=1) - np.maximum(lead - par, 0).mean(axis=1), 0.0)
        self.cycle[at] = np.maximum(both[:, :, 0].mean(axis=1) - lead[:, :, 0].mean(axis=1), 0.0)

    def columns(self) -> dict[str, list]:
        return {"curve_read_levels": [self.read_levels] * len(self.cycle), "curve_lead_units": list(self.lead[:, 0, :]), "curve_protection_units": list(self.protection[:, 0, :]),
                "curve_shortage_units": list(self.shortage), "curve_cycle_units": self.cycle,
                "curve_calendar_lead_units": list(self.lead), "curve_calendar_protection_units": list(self.protection)}


@dataclass(frozen=True)
class ServiceCurves:
    """Per series (rows in the protection frame's order) and level of ``levels``: demand over L and over
    L + R at that level (recalibrated as the service level is), the expected shortage per review cycle at
    the whole-unit par, and the expected demand per cycle; the same quantiles for each calendar review."""

    levels: np.ndarray  # (G,)
    read_levels: np.ndarray  # (n, G): the path quantile read for each level (its model's recalibration)
    lead_units: np.ndarray  # (n, G)
    protection_units: np.ndarray  # (n, G)
    shortage_units: np.ndarray  # (n, G)
    cycle_demand_units: np.ndarray  # (n,)
    calendar_lead_units: np.ndarray  # (n, reviews, G)
    calendar_protection_units: np.ndarray  # (n, reviews, G)

    @classmethod
    def of(cls, protection: pd.DataFrame, levels) -> ServiceCurves:
        def stack(column: str) -> np.ndarray:
            return np.stack(protection[column].to_list()) if len(protection) else np.zeros((0, len(levels)))
        return cls(np.asarray(levels, dtype=float), stack("curve_read_levels"), stack("curve_lead_units"), stack("curve_protection_units"),
                   stack("curve_shortage_units"), protection["curve_cycle_units"].to_numpy(dtype=float),
                   stack("curve_calendar_lead_units"), stack("curve_calendar_protection_units"))


def at_levels(result: PanelForecast, index: np.ndarray, curves: ServiceCurves) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The protection and calendar frames with each series read at its own level of ``curves`` (``index`` into
    ``curves.levels``, rows in the protection frame's order: ``ServiceCurves.of(result.protection, ...)``), the
    curve columns dropped."""
    rows = np.arange(len(index))
    protection = result.protection.drop(columns=list(CURVE_COLUMNS)).assign(
        service_level=curves.levels[index], calibrated_level=curves.read_levels[rows, index],
        lead_time_demand_units=curves.lead_units[rows, index],
        protection_demand_units=curves.protection_units[rows, index])
    calendar_frame = result.calendar
    if len(calendar_frame):
        position = pd.MultiIndex.from_frame(protection[["location_id", "drug_id"]])
        at = position.get_indexer(pd.MultiIndex.from_frame(calendar_frame[["location_id", "drug_id"]]))
        review = calendar_frame.groupby(["location_id", "drug_id"], sort=False).cumcount().to_numpy()
        calendar_frame = calendar_frame.assign(
            lead_time_demand_units=curves.calendar_lead_units[at, review, index[at]],
            protection_demand_units=curves.calendar_protection_units[at, review, index[at]])
    return protection, calendar_frame


def _protection(final: _FinalWork, rows: list[int], model: str, bases: list[str],
                paths: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per series: mean and recalibrated service-level quantile of demand over L and L + R from the day after
    as-of (``PROTECTION_COLUMNS``); and per calendar week ahead the same from that week's review day (no
    columns without a calendar). Columns, for :func:`_joined`."""
    work, windows = final.work, final.windows
    review = work.window.review_period_days
    lead = np.asarray(work.window.lead_time_days, dtype=int)[rows]
    service = work.service_levels[rows].astype(float)
    level = np.array([final.near.level(model, s) for s in service])
    weeks = work.window.calendar_periods
    reviews = calendar.review_windows(work.as_of, work.settings.period, max(weeks, 1))
    offsets = [offset for offset, _ in reviews]
    # demand over L and L + R from each review day: series of equal lead time share the weights
    lead_q = np.empty((len(rows), len(offsets)))
    prot_q = np.empty_like(lead_q)
    grid = np.asarray(work.window.curve_levels, dtype=float)
    curves = _CurveParts(len(rows), len(offsets), [final.near.level(model, g) for g in grid]) if len(grid) else None
    for days in np.unique(lead):
        at = lead == days
        over_lead = np.sort(paths[at] @ windows.matrix(offsets, int(days)).astype(paths.dtype), axis=1)
        over_both = np.sort(paths[at] @ windows.matrix(offsets, int(days) + review).astype(paths.dtype), axis=1)
        lead_q[at] = backtest.row_quantile(over_lead, level[at], ordered=True)
        prot_q[at] = backtest.row_quantile(over_both, level[at], ordered=True)
        if curves is not None:
            curves.read(at, over_lead, over_both)
    mean_paths = paths.mean(axis=1, dtype=np.float64)  # series x periods: means of window sums from it
    histories = [work.histories[i] for i in rows]
    location_ids = np.array([work.keys[i][0] for i in rows], dtype=object)
    drug_ids = np.array([work.keys[i][1] for i in rows], dtype=object)
    protection = {
        "location_id": location_ids, "drug_id": drug_ids, "model": np.full(len(rows), model, dtype=object),
        "basis": np.array(bases, dtype=object), "history_periods": np.array([len(y) for y in histories], dtype=np.int64),
        "lead_time_days": lead, "service_level": service, "calibrated_level": level,
        "lead_time_demand_mean": np.array([mean_paths[k] @ windows.weights(0, int(d)) for k, d in enumerate(lead)],
                                          dtype=float),
        "lead_time_demand_units": lead_q[:, 0],
        "protection_demand_mean": np.array([mean_paths[k] @ windows.weights(0, int(d) + review)
                                            for k, d in enumerate(lead)], dtype=float),
        "protection_demand_units": prot_q[:, 0],
        "forecast_next_4_units": paths[:, :, :4].sum(axis=2, dtype=np.float64).mean(axis=1),
        "actual_last_4_units": np.array([float(y[-4:].sum()) if len(y) >= 4 else np.nan for y in histories],
                                        dtype=float),
    }
    if curves is not None:
        protection.update(curves.columns())
    if not weeks:
        return protection, {}
    week_mean = mean_paths @ np.column_stack([windows.weights(offset, days) for offset, days in reviews])
    calendar_columns = {
        "location_id": np.repeat(location_ids, weeks), "drug_id": np.repeat(drug_ids, weeks),
        "week_start": np.tile(np.array([windows.day_after + timedelta(days=o) for o in offsets], dtype=object),
                              len(rows)),
        "demand_mean_units": week_mean.ravel(), "lead_time_demand_units": lead_q.ravel(),
        "protection_demand_units": prot_q.ravel(),
    }
    return protection, calendar_columns
