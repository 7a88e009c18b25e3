"""What the accuracy benchmarks share: one method's forecasts and the MASE scale (benchmarks/ is not a package:
``accuracy.py`` and ``panels.py`` import this module from their own folder)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Forecasts:
    """Point and q95 forecasts of one method keyed by (series, cutoff), with its time, fallbacks and notes."""

    has_quantile: bool
    point: dict = field(default_factory=dict)
    q95: dict = field(default_factory=dict)
    seconds: float = 0.0
    series_fitted: int = 0
    fallbacks: int = 0
    failed: str = ""
    classes: pd.DataFrame | None = None  # ours (panels.py): marts.demand_class of the latest origin, with the model
    models: dict = field(default_factory=dict)  # ours (panels.py): chosen model per (series, cutoff)
    notes: list = field(default_factory=list)


def scale_of(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal naive (lag ``season``); else the one-step naive; else the mean; else 1."""
    for lag in (season, 1):
        if len(train) > lag:
            mae = float(np.mean(np.abs(train[lag:] - train[:-lag])))
            if mae > 0:
                return mae
    mean = float(np.mean(train)) if len(train) else 0.0
    return mean if mean > 0 else 1.0


class FallbackCounter(logging.Handler):
    """Counts the engine's "falling back" warnings (a model that failed on a series and was replaced)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "falling back" in record.getMessage()
