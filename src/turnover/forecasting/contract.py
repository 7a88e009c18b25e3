"""What :func:`turnover.forecasting.forecast.forecast_panel` takes and gives: the protection window the par policy
asks for, the selection a later run may reuse, the frames it produces, and how batches of series are mapped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from turnover.forecasting.calibration import Calibration


@dataclass(frozen=True)
class ProtectionWindow:
    """Per-series policy inputs the forecast needs to sum demand over lead time and review period.

    ``service_level`` is one level or one per series (service tiers). ``calendar_periods`` > 0 also
    reads the same quantiles for reviews 1 .. n periods ahead (the par calendar: weeks, or months in a
    monthly run; see ``calendar.review_windows``). ``curve_levels`` also reads, per series, the quantiles
    and the expected shortage per review cycle at each of those levels (``ServiceCurves``: what a fill-rate
    target allocates over, ``turnover.inventory.allocation``).
    """

    lead_time_days: np.ndarray
    review_period_days: int
    service_level: float | np.ndarray
    calendar_periods: int = 0
    curve_levels: tuple[float, ...] = ()  # also read every series at each of these levels (ServiceCurves)

    def levels(self, n: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.service_level, dtype=float), (n,))


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


#: ``map_batches(work, batches, step)``: ``work(batch)`` for each batch (each holds only its own series'
#: inputs, and ``len(batch)`` is its series count), results in batch order; ``step`` ("backtest" or
#: "forecast") names the pass for progress. The default runs them one after another in this process;
#: the flow passes one that runs them as tasks on its task runner.
BatchMap = Callable[[Callable[[Any], Any], list[Any], str], list[Any]]


def serial_map(work: Callable[[Any], Any], batches: list[Any], step: str = "") -> list[Any]:
    return [work(batch) for batch in batches]


def single_threaded(work: Callable[[Any], Any], batch: Any) -> Any:
    """``work(batch)`` with BLAS/OpenMP pools at one thread (also on a Dask worker)."""
    with threadpool_limits(limits=1):
        return work(batch)
