"""Demand models behind one contract (:class:`~turnover.forecasting.models.base.DemandModel`).

``REGISTRY`` maps the name written in the ``model`` column to a factory taking the season length. A
model built on :class:`~turnover.forecasting.models.base.BatchBacked` also fits whole batches of series: its
``batch()`` is the same model over rows (:mod:`turnover.forecasting.models.batch`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from turnover.forecasting.models.base import BatchBacked, DemandModel, NotFittedError
from turnover.forecasting.models.baselines import MovingAverage, SeasonalNaive
from turnover.forecasting.models.batch import BatchModel, BorrowedProfileBatch, mix_paths
from turnover.forecasting.models.bootstrap import EmpiricalBootstrap, NoHistory
from turnover.forecasting.models.combination import Combination
from turnover.forecasting.models.exponential_smoothing import ExpSmoothing, HoltWinters
from turnover.forecasting.models.global_gbm import GlobalGBM, GlobalSeries, ResidualNoise
from turnover.forecasting.models.harmonic import DynamicHarmonic, ProfileSmoothing
from turnover.forecasting.models.intermittent import TSB, CrostonSBA
from turnover.forecasting.models.profiles import Profiles, stack_profiles
from turnover.forecasting.models.signal import SignalRegression
from turnover.forecasting.models.trend import DampedTrend, HarmonicTrend

REGISTRY: dict[str, Callable[..., DemandModel]] = {
    "dynamic_harmonic": lambda season_length, window: DynamicHarmonic(season_length=season_length),
    "holt_winters": lambda season_length, window: HoltWinters(season_length=season_length),
    "exp_smoothing": lambda season_length, window: ExpSmoothing(),
    "damped_trend": lambda season_length, window: DampedTrend(),
    "harmonic_trend": lambda season_length, window: HarmonicTrend(season_length=season_length),
    "empirical_bootstrap": lambda season_length, window: EmpiricalBootstrap(window=window),
    "seasonal_naive": lambda season_length, window: SeasonalNaive(season_length=season_length),
    "moving_average": lambda season_length, window: MovingAverage(window=13 if season_length == 52 else 3),
    "croston_sba": lambda season_length, window: CrostonSBA(),
    "tsb": lambda season_length, window: TSB(),
    "no_history": lambda season_length, window: NoHistory(),
}

#: Names the ``model`` column gives to models built per series rather than from the registry.
COMBINATION = "combination"  # an equal mix of the series' candidate models
BORROWED_PROFILE = "borrowed_profile"  # the siblings' yearly profile + the series' own level
GLOBAL_GBM = "global_gbm"  # one gradient-boosted model over the whole panel
SIGNAL_REGRESSION = "signal_regression"  # demand on an external signal (flu activity) + smoothed level


@dataclass(frozen=True)
class SeriesContext:
    """What building a model for one series needs beyond its history."""

    season_length: int
    window: int
    members: tuple[str, ...] = ()  # for a combination
    borrowed: Profiles | None = None  # for a borrowed profile
    origin: int = 0  # absolute period index of the history's first period
    global_sampler: Callable | None = None  # (horizon, n_paths, rng) -> paths from the panel's global model
    signal: dict[int, float] | None = None  # external signal by absolute period index, for this drug


def make_model(name: str, context: SeriesContext) -> DemandModel:
    """A fresh, unfitted model ``name`` for a series in ``context``."""
    if name == COMBINATION:
        return Combination([make_model(m, context) for m in context.members])
    if name == BORROWED_PROFILE:
        if context.borrowed is None:
            raise ValueError("borrowed_profile: no sibling profile for this series")
        return ProfileSmoothing(context.borrowed, context.origin)
    if name == GLOBAL_GBM:
        return GlobalSeries(context.global_sampler)
    if name == SIGNAL_REGRESSION:
        if not context.signal:
            raise ValueError("signal_regression: no signal linked to this drug")
        return SignalRegression(context.signal, context.origin, context.season_length)
    return REGISTRY[name](season_length=context.season_length, window=context.window)

__all__ = [
    "BORROWED_PROFILE", "COMBINATION", "GLOBAL_GBM", "SIGNAL_REGRESSION", "SignalRegression", "GlobalGBM", "GlobalSeries", "ResidualNoise", "BatchBacked", "Combination", "SeriesContext", "make_model", "mix_paths", "REGISTRY",
    "ProfileSmoothing", "Profiles", "DampedTrend", "HarmonicTrend", "BatchModel", "BorrowedProfileBatch", "stack_profiles", "DemandModel", "DynamicHarmonic", "MovingAverage", "SeasonalNaive", "CrostonSBA", "TSB", "NotFittedError", "EmpiricalBootstrap", "ExpSmoothing", "HoltWinters", "NoHistory",
]
