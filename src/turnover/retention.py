"""What the warehouse keeps of earlier runs (issue 17): a chain runs every Monday for years.

Kept for ever: the dispensing history as loaded (``raw.*``: the raw history is never thinned), every run's
record (``marts.runs``: its settings, inputs, row accounting, step times and totals) and the recall audit
(compliance evidence, append-only).

Kept per run while it is recent (``[retention] detail_days``, 28 by default: the four weeks between full
reselections): the per-series tables of a run (``DETAIL_TABLES``: its par levels, calendar, lots, protection
demand, classes, backtest scores ...). Older runs lose them, except the latest completed run and the run whose
full selection it reuses (a weekly run between reselections reads both). What an older run keeps until it is
used up: its forecast of the periods not complete yet (``marts.forecast``: a later run scores them as they
complete; the complete ones are scored already), its chosen models' backtest scores and its model selection
(drift flags compare the recent error of its forecasts with the backtest error of the run that chose each
model: itself, or for a weekly refit the full selection it reused, whose chosen scores stay while a kept
selection points to them). Each run's purchasing files stay in the output folder's run
folders, whatever the warehouse dropped.

Forecast-vs-actual scores (``marts.forecast_accuracy``, one row per forecast run x series x period) are compacted
into ``marts.accuracy_summary``: per forecast run, period, model, demand class and horizon, the sums and counts
MASE, bias and quantile coverage are made of (``tracking.summary_accuracy`` of the summary rows gives the same
figures as ``tracking.accuracy`` of the rows they replaced). A period is scored once per forecast that covered it
(13 forecasts of a week, at horizons 1 to 13), and per row a drift flag reads only the shortest horizon. So:

- the scores a later, shorter-horizon score of the same series and period superseded are compacted once their
  period is older than ``detail_days`` (their forecast run has lost its forecast of complete periods by then: no
  late export rescores them);
- every score is compacted once its period is older than ``[retention] scores_days`` (91: the 8 scored weeks a
  drift flag reads, with room; never the drift window's periods, ``[tracking] drift_window_periods``, which for a
  monthly run reach further back); the forecast runs' remaining backtest scores go with them.

0 keeps everything for either setting.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from turnover import calendar, schema
from turnover.calendar import Period

#: The per-series tables of a run, keyed by ``run_id``, that a run older than ``detail_days`` loses whole (its
#: forecast and chosen backtest scores are thinned instead: :mod:`turnover.io.retention`).
DETAIL_TABLES = (schema.PROTECTION_DEMAND, schema.PAR_LEVELS, schema.PAR_CALENDAR, schema.LOTS, schema.TRANSFERS,
                 schema.QUARANTINE, schema.SHORTAGE_FLAGS, schema.DEMAND_CLASS, schema.CALIBRATION,
                 schema.DRIFT_FLAGS)


def runs_to_thin(runs: pd.DataFrame, as_of: date, detail_days: int, keep: set[str]) -> list[str]:
    """Runs whose per-series detail goes: as-of more than ``detail_days`` before ``as_of`` (0: none), but for
    ``keep`` (the latest completed run and the selection it reuses).

    Args:
        runs: ``run_id, as_of`` of the runs that still have detail.
    """
    if not detail_days or runs.empty:
        return []
    cutoff = as_of - timedelta(days=detail_days)
    old = pd.to_datetime(runs["as_of"]).dt.date < cutoff
    return sorted(r for r in runs.loc[old, "run_id"] if r not in keep)


def scores_cutoff(as_of: date, scores_days: int, period: Period = "week", keep_periods: int = 0) -> date | None:
    """Scores of periods starting before this date are compacted; None: keep every row. Never the latest
    ``keep_periods`` complete periods (a drift flag reads them: 8 months of a monthly run are beyond 91 days)."""
    if not scores_days:
        return None
    cutoff = as_of - timedelta(days=scores_days)
    if keep_periods:
        cutoff = min(cutoff, calendar.add_periods(calendar.last_history_start(as_of, period), 1 - keep_periods, period))
    return cutoff


def superseded_cutoff(as_of: date, detail_days: int) -> date | None:
    """Scores of periods starting before this date that a shorter-horizon score of the same series and period
    superseded are compacted (None: kept): older than the detail window, their forecast run has lost its forecast
    of complete periods (no late export rescores them), and per row nothing reads them (a drift flag reads each
    period's shortest horizon)."""
    return as_of - timedelta(days=detail_days) if detail_days else None
