"""The weekly run's steps, one function each: what a flow task (and the command line) calls.

Each step opens its own warehouse connection (:func:`~turnover.pipeline.runs.warehouse`), does its work through the
``io`` modules and the stages (``forecasting``, ``inventory``, ``simulation``, ``reporting``), and returns something
small (counts, a date, paths). Steps are idempotent: a load skips files already in the ledger, and a run's outputs
replace that run's partition. A run holds the warehouse from its first step to its last (:func:`exclusive_run`),
so a second run is refused at once.

In the order a run takes them:

- :mod:`~turnover.pipeline.load`: dispensing exports, reference files, signals; the run's locations and as-of;
- :mod:`~turnover.pipeline.runs`: the run's record (start, failure, summary), verification, retention;
- :mod:`~turnover.pipeline.demand_forecast`: the demand series, then the forecast;
- :mod:`~turnover.pipeline.scoring`: earlier forecasts against what was dispensed since, drift flags;
- :mod:`~turnover.pipeline.pars`: par levels from the forecast, stock by lot, recalls, shortages, transfers;
- :mod:`~turnover.pipeline.exports`: the purchasing files, the digest (:mod:`~turnover.pipeline.digest`), the report;
- :mod:`~turnover.pipeline.replay_run`: ``turnover replay``.

The names below are the steps' public surface: ``from turnover import pipeline; pipeline.forecast(...)``.
This package sits above the stages and ``io``; only ``flows/`` (and its command line) imports it.
"""

from turnover.pipeline.demand_forecast import build_demand, forecast, linked_signals, reusable, signals_by_drug
from turnover.pipeline.exports import export, export_digest, wide_calendar
from turnover.pipeline.load import (
    REFERENCE_LOADERS,
    ensure_demo,
    input_records,
    load_history,
    load_reference,
    load_signals,
    resolve_as_of,
    row_accounting,
    run_scope,
)
from turnover.pipeline.pars import chosen_levels, series_keys, set_par_levels
from turnover.pipeline.replay_run import replay, replay_frontier_files
from turnover.pipeline.runs import (
    apply_retention,
    exclusive_run,
    failures_recorded,
    interrupted_words,
    list_runs,
    record_run,
    run_summary,
    start_run,
    verify_warehouse,
    warehouse,
)
from turnover.pipeline.scoring import score_forecasts

__all__ = [
    "REFERENCE_LOADERS", "apply_retention", "build_demand", "chosen_levels", "ensure_demo", "exclusive_run", "export",
    "export_digest", "failures_recorded", "forecast", "input_records", "interrupted_words", "linked_signals",
    "list_runs", "load_history", "load_reference", "load_signals", "record_run", "replay", "replay_frontier_files",
    "resolve_as_of", "reusable", "row_accounting", "run_scope", "run_summary", "score_forecasts", "series_keys",
    "set_par_levels", "signals_by_drug", "start_run", "verify_warehouse", "warehouse", "wide_calendar",
]
