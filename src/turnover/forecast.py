"""The loop over series: choose a model, fit it, fall back when it fails, and read quantiles.

``forecast_panel`` is the one function that does per-series work; it takes a panel and returns
frames, so it can be mapped over batches of series (threads, processes, a Dask cluster) unchanged.
Random draws are seeded per series from its ids, so a series' numbers do not depend on which batch
or worker computed it.
"""

from __future__ import annotations

import logging
import warnings
import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from turnover import calendar, schema
from turnover.io.demand import DemandPanel
from turnover.models import REGISTRY, DemandModel
from turnover.settings import ForecastSettings

log = logging.getLogger(__name__)

#: Fallback order: each model gives way to the next when it cannot be fitted.
FALLBACKS = ("dynamic_harmonic", "exp_smoothing", "empirical_bootstrap")


@dataclass(frozen=True)
class SeriesForecast:
    """One series' simulated demand and how it was obtained."""

    model: str
    basis: str  # in words, for the reason column
    paths: np.ndarray  # (n_paths, horizon), units


def choose_model(y: np.ndarray, season_length: int, settings: ForecastSettings) -> tuple[str, str]:
    """The model a history supports, and why, in words.

    Rules: no history -> ``no_history``; no use in the recent window, a short history, or
    intermittent demand (share of non-zero periods over the last year below the threshold) ->
    ``empirical_bootstrap`` (of the recent window); at least
    ``min_seasons`` full seasons -> ``dynamic_harmonic``; otherwise ``exp_smoothing``.
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


def _fit_and_sample(model: DemandModel, y: np.ndarray, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    with warnings.catch_warnings():
        # The optimiser's convergence notes on short, noisy series are expected; accuracy is judged
        # by backtest, not by these warnings.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return model.fit(y).sample_paths(horizon, n_paths, rng)


def forecast_series(
    y: np.ndarray, horizon: int, season_length: int, settings: ForecastSettings, rng: np.random.Generator
) -> SeriesForecast:
    """Simulated demand for one series, falling back down ``FALLBACKS`` when a fit fails."""
    name, basis = choose_model(y, season_length, settings)
    chain = [name, *FALLBACKS[FALLBACKS.index(name) + 1 :]] if name in FALLBACKS else [name]
    for i, candidate in enumerate(chain):
        try:
            model = REGISTRY[candidate](season_length=season_length, window=settings.recent_window_periods)
            paths = _fit_and_sample(model, y, horizon, settings.n_paths, rng)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.warning("%s failed (%s); falling back", candidate, exc)
            continue
        if i:
            basis = f"{basis}; {chain[0]} failed, fell back to {candidate}"
        return SeriesForecast(candidate, basis, paths)
    raise RuntimeError("the last fallback model failed")  # empirical_bootstrap accepts any history


def series_rng(seed: int, location_id: str, drug_id: str) -> np.random.Generator:
    """A generator seeded by the run seed and the series ids (stable across batches and workers)."""
    return np.random.default_rng([seed, zlib.crc32(location_id.encode()), zlib.crc32(drug_id.encode())])


@dataclass(frozen=True)
class ProtectionWindow:
    """Per-series policy inputs the forecast needs to sum demand over lead time and review period."""

    lead_time_days: np.ndarray
    review_period_days: int
    service_level: float


def forecast_panel(
    panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast every series of ``panel``.

    Returns:
        ``forecast``: one row per series x future period with ``mean`` and ``q50 .. q99`` (units).
        ``protection``: one row per series with the mean and the service-level quantile of demand
        over the lead time and over lead time + review period, starting the day after ``as_of``.
    """
    period = settings.period
    season_length = calendar.SEASON_LENGTH[period]
    longest = int(window.lead_time_days.max(initial=0)) + window.review_period_days
    horizon = max(calendar.horizon_periods(settings.horizon_weeks, period), calendar.periods_to_cover(as_of, period, longest))
    starts = calendar.forecast_period_starts(as_of, period, horizon)
    day_after = as_of + timedelta(days=1)
    forecast_rows, protection_rows = [], []
    for i, (location_id, drug_id) in enumerate(panel.keys.itertuples(index=False)):
        y = panel.history(i)
        result = forecast_series(y, horizon, season_length, settings, series_rng(settings.seed, location_id, drug_id))
        lead = int(window.lead_time_days[i])
        w_lead = calendar.window_weights(starts, period, day_after, lead)
        w_prot = calendar.window_weights(starts, period, day_after, lead + window.review_period_days)
        lead_demand, prot_demand = result.paths @ w_lead, result.paths @ w_prot
        quantiles = np.quantile(result.paths, schema.QUANTILE_LEVELS, axis=0)
        forecast_rows.append(
            pd.DataFrame(
                {"location_id": location_id, "drug_id": drug_id, "period_start": starts,
                 "mean": result.paths.mean(axis=0), **dict(zip(schema.QUANTILE_COLUMNS, quantiles, strict=True)), "model": result.model}
            )
        )
        protection_rows.append(
            (location_id, drug_id, result.model, result.basis, len(y), lead,
             float(lead_demand.mean()), float(np.quantile(lead_demand, window.service_level)),
             float(prot_demand.mean()), float(np.quantile(prot_demand, window.service_level)),
             float(result.paths[:, :4].sum(axis=1).mean()), float(y[-4:].sum()) if len(y) >= 4 else np.nan)
        )
    protection = pd.DataFrame(
        protection_rows,
        columns=["location_id", "drug_id", "model", "basis", "history_periods", "lead_time_days",
                 "lead_time_demand_mean", "lead_time_demand_units", "protection_demand_mean",
                 "protection_demand_units", "forecast_next_4_units", "actual_last_4_units"],
    )
    forecast = pd.concat(forecast_rows, ignore_index=True) if forecast_rows else pd.DataFrame(columns=schema.FORECAST_CSV_COLUMNS)
    return forecast, protection
