"""Demand models behind one contract (:class:`~turnover.models.base.DemandModel`).

``REGISTRY`` maps the name written in the ``model`` column to a factory taking the season length.
"""

from __future__ import annotations

from collections.abc import Callable

from turnover.models.base import DemandModel, NotFittedError
from turnover.models.baselines import MovingAverage, SeasonalNaive
from turnover.models.bootstrap import EmpiricalBootstrap, NoHistory
from turnover.models.combination import Combination, mix_paths
from turnover.models.exponential_smoothing import ExpSmoothing, HoltWinters
from turnover.models.harmonic import DynamicHarmonic
from turnover.models.intermittent import TSB, CrostonSBA

REGISTRY: dict[str, Callable[..., DemandModel]] = {
    "dynamic_harmonic": lambda season_length, window: DynamicHarmonic(season_length=season_length),
    "holt_winters": lambda season_length, window: HoltWinters(season_length=season_length),
    "exp_smoothing": lambda season_length, window: ExpSmoothing(),
    "empirical_bootstrap": lambda season_length, window: EmpiricalBootstrap(window=window),
    "seasonal_naive": lambda season_length, window: SeasonalNaive(season_length=season_length),
    "moving_average": lambda season_length, window: MovingAverage(window=13 if season_length == 52 else 3),
    "croston_sba": lambda season_length, window: CrostonSBA(),
    "tsb": lambda season_length, window: TSB(),
    "no_history": lambda season_length, window: NoHistory(),
}


def combination(members: list[str], season_length: int, window: int) -> Combination:
    """An equal mixture of the registered models ``members``."""
    return Combination([REGISTRY[m](season_length=season_length, window=window) for m in members])


#: Name the ``model`` column gives a combination of a series' candidate models.
COMBINATION = "combination"

__all__ = [
    "COMBINATION", "Combination", "combination", "mix_paths", "REGISTRY", "DemandModel", "DynamicHarmonic", "MovingAverage", "SeasonalNaive", "CrostonSBA", "TSB", "NotFittedError", "EmpiricalBootstrap", "ExpSmoothing", "HoltWinters", "NoHistory",
]
