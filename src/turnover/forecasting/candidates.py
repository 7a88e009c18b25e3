"""Which models a series is backtested among, and the rule's model where no backtest can decide.

A strongly seasonal series tries the seasonal models only; intermittent and lumpy series the intermittent
methods; a new item too short for its own season its siblings' season first; a signal-linked drug the signal
regression first (``[forecast] candidates_*`` in the settings).
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models import BORROWED_PROFILE, SIGNAL_REGRESSION, SeriesContext, SignalRegression
from turnover.settings import ForecastSettings

SEASONAL_MODELS = ("dynamic_harmonic", "harmonic_trend", "holt_winters", "seasonal_naive")


SIGNAL_MIN_HISTORY = SignalRegression.min_history


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
