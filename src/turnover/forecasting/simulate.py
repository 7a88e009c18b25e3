"""Pass 3 for a batch of series: fit the chosen model on the whole history, simulate paths, and read the
recalibrated quantiles per period and over the lead time and lead time + review period (this review and each
calendar review). Series of equal length and model are simulated together; a series whose model fails falls back
down :data:`FALLBACKS` on its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.forecasting import backtest, peaks
from turnover.forecasting.calibration import Calibration
from turnover.forecasting.candidates import choose_model
from turnover.forecasting.fitting import Group, cap_paths, group_paths, quiet_fitting
from turnover.forecasting.global_model import fit_global, noise_sampler
from turnover.forecasting.models import COMBINATION, GLOBAL_GBM, ResidualNoise, SeriesContext, make_model
from turnover.forecasting.protection import CurveParts, DayWindows
from turnover.forecasting.work import GROUP_ROWS, PanelWork, series_rng, uniforms
from turnover.settings import ForecastSettings

log = logging.getLogger(__name__)


#: Fallback order when a model cannot be fitted on the full history.
FALLBACKS = ("dynamic_harmonic", "exp_smoothing", "empirical_bootstrap")


@dataclass(frozen=True)
class SeriesForecast:
    """One series' simulated demand and how it was obtained."""

    model: str
    basis: str  # in words, for the reason column
    paths: np.ndarray  # (n_paths, horizon), units


def fit_paths(name: str, y: np.ndarray, context: SeriesContext, horizon: int, n_paths: int,
              rng: np.random.Generator) -> np.ndarray:
    """Paths of model ``name`` fitted on one history (the per-series form of :func:`turnover.forecasting.fitting.group_paths`,
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


PROTECTION_COLUMNS = [
    "location_id", "drug_id", "model", "basis", "history_periods", "lead_time_days", "service_level",
    "calibrated_level",
    "lead_time_demand_mean", "lead_time_demand_units", "protection_demand_mean", "protection_demand_units",
    "forecast_next_4_units", "actual_last_4_units",
]


CALENDAR_COLUMNS = [
    "location_id", "drug_id", "week_start", "demand_mean_units", "lead_time_demand_units", "protection_demand_units",
]


def forecast_key(work: PanelWork, chosen: list[tuple[str, str]], i: int) -> tuple:
    """Series forecast together: equal history length and model (a combination: and equal members). A model
    fitted over rows reads nothing else of the context (its season and window are the panel's)."""
    name = chosen[i][0]
    return len(work.histories[i]), name, work.contexts[i].members if name == COMBINATION else ()


@dataclass
class FinalWork:
    """Pass 3's inputs: the prepared panel, the choices, the calibrations and the shared calendar."""

    work: PanelWork
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

    def subset(self, batch: list[int]) -> FinalWork:
        return replace(self, work=self.work.subset(batch), chosen=[self.chosen[i] for i in batch],
                       global_points={j: self.global_points[i] for j, i in enumerate(batch) if i in self.global_points})


def prepare_final(work: PanelWork, chosen: list[tuple[str, str]], near: Calibration,
                   everywhere: Calibration) -> FinalWork:
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
    return FinalWork(work, chosen, near, everywhere, horizon, horizon_paths, starts, windows, points, noise)


@dataclass(frozen=True)
class Forecasts:
    forecast: pd.DataFrame
    protection: pd.DataFrame
    calendar: pd.DataFrame


def forecast_batch(final: FinalWork) -> Forecasts:
    """Pass 3 for a batch: fit the chosen model on the whole history, simulate, read the quantiles at the
    recalibrated levels: per period, and over L and L + R (this week and each calendar week). Series of
    equal length and model are fitted together; a series whose model fails falls back on its own."""
    work = final.work
    settings = work.settings
    forecasts, protections, calendars = [], [], []
    series: list[int] = []  # the batch's series in the order of the parts' rows
    for rows in work.groups(partial(forecast_key, work, final.chosen), GROUP_ROWS["forecast"]):
        name = final.chosen[rows[0]][0]
        Y = np.vstack([work.histories[i] for i in rows])
        U, _, rngs = uniforms(work, rows, 0, (settings.n_paths, final.horizon_paths))
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
        return Forecasts(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    protection_frame = peaks.history_peaks(  # what the par's peak-season rule compares with (inventory.peak_cap)
        _joined(protections), [work.histories[i] for i in series], [work.contexts[i].signal for i in series],
        [work.contexts[i].origin for i in series], review_days=work.window.review_period_days,
        season_length=calendar.SEASON_LENGTH[settings.period], period_days=calendar.DAYS_PER_PERIOD[settings.period])
    calendar_frame = _joined(calendars) if work.window.calendar_periods else pd.DataFrame(columns=CALENDAR_COLUMNS)
    return Forecasts(_joined(forecasts), protection_frame, calendar_frame)


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


def _period_columns(final: FinalWork, rows: list[int], model: str, paths: np.ndarray) -> dict[str, Any]:
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


def _protection(final: FinalWork, rows: list[int], model: str, bases: list[str],
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
    curves = CurveParts(len(rows), len(offsets), [final.near.level(model, g) for g in grid]) if len(grid) else None
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
