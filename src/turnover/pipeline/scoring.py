"""The scoring step: earlier runs' forecasts against the periods dispensed since, and drift flags."""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.io import demand as demand_io
from turnover.io import outputs
from turnover.io import tracking as tracking_io
from turnover.pipeline.runs import warehouse
from turnover.reporting import tracking
from turnover.settings import Settings

log = logging.getLogger(__name__)


def score_forecasts(settings: Settings, run_id: str, as_of: date) -> dict:
    """Score earlier runs' forecasts against the periods dispensed since, keep the scores, and flag the series
    whose recent errors drifted beyond their backtest error. Run after ``build_demand`` (it reads the actuals
    from the demand series built for ``as_of``). The scores are computed and kept in the warehouse, each run x
    series scaled by ``tracking.history_scales``."""
    period = settings.forecast.period
    with warehouse(settings) as con:
        runs = tracking_io.read_completed_runs(con, period)
        runs = runs[runs["run_id"] != run_id]
        finished = runs["finished_at"].dropna()
        late_since = finished.max().to_pydatetime() if len(finished) else None  # the previous completed run's end
        earlier = tracking.runs_to_score(runs, as_of, math.ceil(settings.forecast.horizon_days() / 7))
        through = calendar.last_history_start(as_of, period)  # later periods' scores are a later run's
        with tracking_io.scorable(con, earlier, as_of, period, late_since) as wanted:
            counts = tracking_io.score_forecasts(con, earlier, period, through, _history_scales(con, wanted, period),
                                                 run_id)
        window_days = 7 * settings.tracking.drift_window_periods + settings.forecast.horizon_days() + 31
        recent = tracking_io.read_recent_scores(con, as_of - timedelta(days=window_days),
                                                settings.tracking.drift_window_periods, through)
        flags = tracking.flag(recent, tracking_io.read_backtest_mase(con, recent), settings.tracking)
        outputs.write_run_table(con, schema.DRIFT_FLAGS, run_id, flags)
        scored = {"forecast_runs": sorted(counts), "periods": sum(counts.values()), "drift_flags": len(flags)}
        outputs.record_run(con, run_id, scored=scored)
    log.info("forecast vs actual: scored %d periods of %d earlier runs; %d drift flags", scored["periods"],
             len(scored["forecast_runs"]), len(flags))
    return scored


def _history_scales(con, wanted: pd.DataFrame, period: str) -> pd.DataFrame:
    """``forecast_run_id, series_index, scale``: the MASE scale of each run x series ``wanted`` (with ``later``,
    the periods after the run's as-of) on the history that run saw, from the demand panel."""
    scales = wanted[["forecast_run_id", "series_index"]].assign(scale=np.zeros(len(wanted)))
    if len(wanted):
        panel = demand_io.read_demand_panel(con)
        scales["scale"] = tracking.history_scales(panel.units, panel.offsets,
                                                  wanted["series_index"].to_numpy(dtype=np.int64),
                                                  wanted["later"].to_numpy(dtype=np.int64), period)
    return scales
