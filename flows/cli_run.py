"""``turnover run``: its settings from the file and the options, the weekly flow on the Prefect server
``flows.local`` chooses, the progress bar, and the one-screen summary at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

# Prefect's defaults for an unattended machine without internet: no analytics calls, and more
# patience for the temporary server on a busy CI machine than the default 20 s.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "turnover",  # domain log records reach the flow run's logs
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def settings_overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {}
    if args.db:
        overrides["warehouse_path"] = args.db
    if args.out:
        overrides["output_dir"] = args.out
    forecast = {k: v for k, v in {"period": args.period, "horizon": getattr(args, "horizon", None)}.items()
                if v is not None}
    if forecast:
        overrides["forecast"] = forecast
    execution = {k: v for k, v in {"dask_address": getattr(args, "dask", None),
                                   "dask_workers": getattr(args, "dask_workers", None)}.items() if v is not None}
    if execution:
        overrides["execution"] = execution
    return overrides


def run_command(args: argparse.Namespace) -> int:
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from flows.local import console, log_path_for

    settings = run_settings(args)
    if not (args.history or args.demo):  # nothing to load, or an --as-of typo: said now, before Prefect starts
        check_as_of(settings, args.as_of)
    log_path = log_path_for(settings.warehouse_path)
    try:
        with console(args.verbose):
            summary, server = _run_flow(args, settings, log_path)
    except Exception as exc:
        exc.turnover_log = log_path  # main() points to it
        raise
    print_run(summary)
    print(f"prefect {server.describe()}")
    print(f"log     {log_path} (every step's log lines{'' if args.verbose else '; --verbose shows them here'})")
    return 0


def run_settings(args: argparse.Namespace):
    """The settings of ``turnover run``: the file, then the options; with ``--demo``, the demo's own warehouse
    and output folder unless ``--db`` / ``--out`` name others."""
    from turnover.settings import load_settings

    overrides = settings_overrides(args)
    settings = load_settings(args.config, **overrides)
    return settings.for_demo(overrides) if args.demo else settings


def check_as_of(settings, as_of: date | None) -> None:
    """Refuse a run of a warehouse holding no dispensing, or an ``--as-of`` outside it (``io.scope.check_as_of``)."""
    from turnover.io import scope
    from turnover.io.warehouse import open_warehouse

    days = None
    if Path(settings.warehouse_path).exists():
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            days = scope.dispensing_days(con)
    scope.check_as_of(as_of, days, settings.warehouse_path, settings.forecast.max_days_after_last_dispensing)


def _run_flow(args: argparse.Namespace, settings, log_path: Path):
    """The weekly flow on the Prefect server ``flows.local`` chooses: (the run summary, that server)."""
    from flows.local import log_to_file, server_for_run, wait_until_ready
    from turnover.io.files import exclusive_run

    # A busy warehouse or an output folder that cannot be written is said now, before anything starts; the flow
    # holds the warehouse again (re-entrant) for deployments. The temporary Prefect server (when there is no
    # other) then boots in its own process while this one imports the forecasting stack and Prefect.
    with exclusive_run(settings.warehouse_path, settings.output_dir), server_for_run(log_path) as server:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.weekly import weekly_par_levels  # Prefect is imported only when a flow runs

        # The run log's handler joins the root logger after Prefect has configured logging: Prefect leaves the
        # root logger (its console handler) alone when it finds a handler of someone else's there.
        with log_to_file(log_path), progress_bar():
            wait_until_ready(server, float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                summary = weekly_par_levels(
                    history=args.history, catalog=args.catalog, on_hand=args.on_hand, stockouts=args.stockouts,
                    closures=args.closures, recalls=args.recalls, shortages=args.shortages,
                    signals=dict(args.signal) or None, as_of=args.as_of, demo=args.demo, mapping=args.mapping,
                    config=args.config, overrides=settings_overrides(args), replaces=args.replaces or None,
                )
    return summary, server


def print_run(summary: dict) -> None:
    """The one-screen summary at the end of ``turnover run``."""
    print()
    for line in summary["loads"]:
        print(f"loaded  {line}")
    accounting = summary.get("accounting", {})
    if summary["loads"]:
        print(f"rows    read {accounting.get('rows_read', 0):,} = loaded {accounting.get('rows_loaded', 0):,} "
              f"+ rejected {accounting.get('rows_rejected', 0):,} (rejected rows and reasons: raw.dispensing_rejects)")
    for line in summary.get("warnings", []):
        print(f"warning {line}")
    print(f"as of   {summary['as_of']}: {summary['series']} location x drug series forecast, run {summary['run_id']}")
    scored = summary.get("scored") or {}
    if scored.get("periods"):
        print(f"tracked {scored['periods']} forecast periods of {len(scored['forecast_runs'])} earlier run(s) scored "
              f"against dispensing; {scored['drift_flags']} series drifting beyond their backtest error")
    print_totals(summary.get("totals", {}))
    steps = summary.get("step_seconds") or {}
    if steps:
        print("time    " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items()))
    for path in summary["outputs"]:
        if "by_location" not in path:
            print(f"wrote   {path}")
    print(f"        and one par-level file per location in {Path(summary['output_dir']) / 'by_location'}")
    if summary.get("report"):
        print(f"report  {summary['report']} (open it in a browser)")


class _ProgressHandler(logging.Handler):
    """Draws ``turnover.progress`` records (step, done, total, unit) as bars on the terminal."""

    def __init__(self, progress) -> None:
        super().__init__()
        self.progress, self.bars = progress, {}

    def emit(self, record: logging.LogRecord) -> None:
        step, done, total = (getattr(record, k, None) for k in ("step", "done", "total"))
        if step is None:
            return
        if step not in self.bars:
            self.bars[step] = self.progress.add_task(f"{step:<12}", total=total, unit=getattr(record, "unit", "series"))
        self.progress.update(self.bars[step], completed=done, total=total)


@contextmanager
def progress_bar():
    """A progress bar over series while the long steps run, on a terminal; elsewhere the progress records stay
    log lines (Prefect's console and the run log)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    logger = logging.getLogger("turnover.progress")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                  TimeElapsedColumn(), transient=True) as progress:
        handler, level = _ProgressHandler(progress), logger.level
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)  # outside a flow the package's loggers are left at the root's WARNING
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
            logger.setLevel(level)


def print_totals(totals: dict) -> None:
    """The run summary's totals in a few lines."""
    if not totals:
        return
    def show(value, unit=""):
        return "n/a" if value is None else f"{value:g}{unit}"
    print(f"orders  {totals['orders']} of {totals['series']} series, value {totals['order_value']:,.2f}")
    print(f"turns   {show(totals['turns_at_par'])} a year at the recommended pars "
          f"({show(totals['days_on_hand_at_par'], ' days')} on hand) vs {show(totals['turns_current'])} now "
          f"({show(totals['days_on_hand_current'], ' days')})")
    print(f"flags   {totals['slow_movers']} slow movers, {totals['overstock']} overstock, {totals['dead_items']} dead "
          f"items, {totals['expiry_capped']} expiry-capped orders, {totals['shortages']} in shortage, "
          f"{totals['quarantined_lots']} recalled lots quarantined ({totals['quarantined_units']:g} units)")
    print(f"expiry  {totals['projected_waste_units']:g} units ({totals['projected_waste_value']:,.2f}) projected to "
          f"expire unused; {totals['expired_units']:g} units already expired")
    if totals.get("fill_rate_target"):
        print(f"service fill-rate target {totals['fill_rate_target']:.1%}: expected {totals['expected_fill_rate']:.2%} "
              f"(drugs weighed by their expected use), at an inventory value of "
              f"{totals['inventory_value_at_par']:,.2f} at the new pars")
    if totals.get("transfers"):
        print(f"moves   {totals['transfers']} transfer(s) before expiry suggested: {totals['transfer_units']:g} units "
              f"({totals['transfer_value']:,.2f}) to locations expected to use them in time")
