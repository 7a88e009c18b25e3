"""Demand models behind one contract (:class:`~turnover.models.base.DemandModel`).

``REGISTRY`` maps the name written in the ``model`` column to a factory taking the season length.
"""

from __future__ import annotations

from collections.abc import Callable

from turnover.models.base import DemandModel, NotFittedError
from turnover.models.bootstrap import EmpiricalBootstrap, NoHistory
from turnover.models.exponential_smoothing import ExpSmoothing, HoltWinters
from turnover.models.harmonic import DynamicHarmonic

REGISTRY: dict[str, Callable[..., DemandModel]] = {
    "dynamic_harmonic": lambda season_length, window: DynamicHarmonic(season_length=season_length),
    "holt_winters": lambda season_length, window: HoltWinters(season_length=season_length),
    "exp_smoothing": lambda season_length, window: ExpSmoothing(),
    "empirical_bootstrap": lambda season_length, window: EmpiricalBootstrap(window=window),
    "no_history": lambda season_length, window: NoHistory(),
}

__all__ = [
    "REGISTRY", "DemandModel", "DynamicHarmonic", "NotFittedError", "EmpiricalBootstrap", "ExpSmoothing", "HoltWinters", "NoHistory",
]
