"""The ``turnover`` command.

``turnover run`` runs the weekly Prefect flow (without a Prefect server it starts Prefect's
temporary local one, which takes 15-30 s). ``turnover demo`` only writes the demo files. Errors in
what the user typed or in the input files end in one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from turnover import __version__

# Prefect's defaults for an unattended machine without internet: no analytics calls, and more
# patience for the temporary server on a busy CI machine than the default 20 s.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "turnover",  # domain log records reach the flow run's logs
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of 1 or more: {text!r}")
    return number


def _run_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: give a run id or its first characters (turnover runs lists them)")
    return text.strip()


def _signal(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, _existing_file(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turnover", description="Seasonal par levels for pharmacy inventory.")
    parser.add_argument("--version", action="version", version=f"turnover {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="load dispensing, forecast, and write par-level CSVs",
        description="Load dispensing exports into the warehouse, forecast demand per location x drug, "
        "and write par_levels_<as-of>.csv and forecast_<as-of>.csv.",
    )
    run.add_argument("--history", nargs="+", type=_existing_file, default=[], metavar="PATH",
                     help="dispensing exports (CSV, CSV.GZ or Parquet); files already loaded are skipped")
    run.add_argument("--catalog", type=_existing_file, metavar="PATH", help="drug catalog CSV (replaces the current one)")
    run.add_argument("--on-hand", type=_existing_file, metavar="PATH",
                     help="on-hand CSV, per drug or by lot (location_id, drug_id, lot, expiry_date, units); replaces "
                     "the current one")
    run.add_argument("--recalls", type=_existing_file, metavar="PATH",
                     help="FDA recalls in the openFDA drug/enforcement form (JSON or CSV): matched lots are quarantined")
    run.add_argument("--shortages", type=_existing_file, metavar="PATH",
                     help="FDA shortages in the openFDA drug/shortages form (JSON or CSV)")
    run.add_argument("--stockouts", type=_existing_file, metavar="PATH",
                     help="stockout log CSV: location_id, drug_id, start, end (those days are not zero demand)")
    run.add_argument("--closures", type=_existing_file, metavar="PATH",
                     help="closures calendar CSV: date, location_id (blank = every location)")
    run.add_argument("--signal", action="append", default=[], type=_signal, metavar="NAME=PATH",
                     help="external weekly signal, e.g. ilinet=ILINet.csv (CDC FluView export); repeatable")
    run.add_argument("--as-of", type=_date, metavar="DATE", help="last day of history to use (default: latest dispensing date loaded)")
    run.add_argument("--db", metavar="PATH", help="warehouse file (default from turnover.toml: data/warehouse.duckdb)")
    run.add_argument("--out", metavar="DIR", help="output folder (default from turnover.toml: data/out)")
    run.add_argument("--period", choices=["week", "month"], help="forecast buckets (default week)")
    run.add_argument("--horizon", type=_positive_int, metavar="N",
                     help="periods to forecast, in the run's buckets (default: 13 weeks, or 12 months with --period "
                     "month); the forecast CSV and the par calendar cover them")
    run.add_argument("--mapping", metavar="NAME", help="column mapping to use instead of choosing by header")
    run.add_argument("--replaces", action="append", default=[], metavar="PATH",
                     help="an export loaded before whose rows the new --history files replace, all of them (e.g. a "
                     "corrected file sent under another name); repeatable")
    run.add_argument("--config", type=_existing_file, metavar="PATH", help="settings file (default ./turnover.toml)")
    run.add_argument("--demo", action="store_true", help="use the synthetic demo pharmacy (generated if absent)")
    run.add_argument("--dask", metavar="ADDRESS", help="run the per-series batches on this Dask scheduler "
                     "(tcp://host:8786) through Prefect's Dask task runner")
    run.add_argument("--dask-workers", type=int, metavar="N", help="run them on a local Dask cluster of N processes")
    run.add_argument("--verbose", action="store_true", help="show Prefect's and each step's log lines on the terminal "
                     "(they always go to the run log beside the warehouse)")

    replay = commands.add_parser(
        "replay", help="simulate weekly ordering over a past period: turnover vs two baselines",
        description="Replay weekly ordering over past dispensing: at each Monday, forecast with the data before it "
        "and order up to par (lead time, packs, expiry cap), then dispense the actual demand first-expiry-first-out. "
        "The same for min/max from a flat 365-day average and for par = N days of average supply. Writes "
        "replay_<from>_<to>.csv and replay_<from>_<to>_totals.csv.",
    )
    replay.add_argument("--history", nargs="+", type=_existing_file, default=[], metavar="PATH",
                        help="dispensing exports to load first (files already loaded are skipped)")
    replay.add_argument("--catalog", type=_existing_file, metavar="PATH", help="drug catalog CSV (lead times, packs, "
                        "shelf life, cost)")
    replay.add_argument("--from", dest="start", type=_date, required=True, metavar="DATE", help="first day replayed")
    replay.add_argument("--to", dest="end", type=_date, required=True, metavar="DATE", help="last day replayed")
    replay.add_argument("--mapping", metavar="NAME", help="column mapping to use instead of choosing by header")
    replay.add_argument("--days-of-supply", type=float, default=30.0, metavar="DAYS",
                        help="the days-of-supply baseline's par in days of average use (default 30)")
    replay.add_argument("--reselect-every", type=int, default=13, metavar="WEEKS",
                        help="weeks between full model reselections; models are refitted every week (default 13)")
    replay.add_argument("--frontier", action="store_true",
                        help="also sweep each policy over its own knob (turnover: a fill-rate target 90-99.8%%, each "
                        "drug's level allocated; turnover at one service level for all 80-99.5%%; min/max: z; days of "
                        "supply: 7-60 days) and compare stock at equal fill rate: writes "
                        "replay_<from>_<to>_frontier.csv, _frontier_savings.csv and _frontier.png")
    replay.add_argument("--db", metavar="PATH", help="warehouse file (default from turnover.toml)")
    replay.add_argument("--out", metavar="DIR", help="output folder (default from turnover.toml)")
    replay.add_argument("--config", type=_existing_file, metavar="PATH", help="settings file (default ./turnover.toml)")

    runs = commands.add_parser("runs", help="list the latest runs recorded in the warehouse")
    runs.add_argument("--db", metavar="PATH", help="warehouse file (default from turnover.toml)")
    runs.add_argument("--config", type=_existing_file, metavar="PATH", help="settings file (default ./turnover.toml)")
    runs.add_argument("--limit", type=_positive_int, default=20, help="how many runs (default 20)")
    runs.add_argument("--show", type=_run_id, metavar="RUN_ID",
                      help="everything one run recorded (a run id or its first characters)")

    demo = commands.add_parser("demo", help="write the synthetic demo pharmacy's files")
    demo.add_argument("--dir", default="data/demo", metavar="DIR", help="where to write them (default data/demo)")
    demo.add_argument("--end", type=_date, metavar="DATE", help="last day of dispensing (default: last Sunday)")
    return parser


def _overrides(args: argparse.Namespace) -> dict:
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


def _run(args: argparse.Namespace) -> int:
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

    overrides = _overrides(args)
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
                    config=args.config, overrides=_overrides(args), replaces=args.replaces or None,
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


def _replay(args: argparse.Namespace) -> int:
    from turnover import pipeline
    from turnover.frontier import FrontierSettings
    from turnover.replay import ReplaySettings
    from turnover.settings import load_settings

    if args.end <= args.start:
        raise ValueError(f"--to {args.end} must be after --from {args.start}")
    overrides = {k: v for k, v in {"warehouse_path": args.db, "output_dir": args.out}.items() if v}
    settings = load_settings(args.config, **overrides)
    with pipeline.exclusive_run(settings), progress_bar():  # it rebuilds the staging tables a weekly run reads
        for report in pipeline.load_history(settings, args.history, args.mapping) if args.history else []:
            print(f"loaded  {report.summary()}")
        if args.catalog:
            pipeline.load_reference(settings, catalog=args.catalog)
        result, written = pipeline.replay(settings, args.start, args.end,
                                          ReplaySettings(args.reselect_every, args.days_of_supply),
                                          FrontierSettings() if args.frontier else None)
    print(f"replay  {args.start} .. {args.end}: {result.weeks} weekly reviews, "
          f"{len(result.per_series) // 3} location x drug series")
    if result.frontier is not None:
        print(format_frontier(result.frontier))
        print("at the replay's own settings (turnover at the service tiers):")
    print(format_totals(result.totals))
    for path in written:
        print(f"wrote   {path}")
    return 0


def format_totals(totals) -> str:
    """The replay's side-by-side table."""
    shown = totals.set_index("policy")[["fill_rate", "cycle_service_level", "stockout_weeks", "avg_on_hand_units",
                                        "avg_on_hand_value", "turns", "expired_units", "expired_value"]]
    return shown.T.to_string(float_format=lambda v: f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}")


def format_frontier(frontier, read_at=(0.97, 0.98, 0.99)) -> str:
    """The frontier's headline sentences, the saving at a few fill rates, and each policy's curve."""
    import numpy as np
    import pandas as pd

    from turnover.frontier import BASELINE_NAMES, fill_bases, has_value, headline, saving_at

    lines = headline(frontier, read_at)
    units = ["value", "units"] if has_value(frontier) else ["units"]
    words = {"units": "", "value": " (fill of value)"}
    saved = pd.DataFrame({f"vs {BASELINE_NAMES.get(b, b)}, {unit}{words[basis]}": saving_at(frontier, b, read_at, unit, fill)
                          for basis, fill in fill_bases(frontier).items()
                          for b in frontier["policy"].drop_duplicates() if b != "turnover" for unit in units},
                         index=[f"fill {f:.1%}" for f in read_at])
    lines += ["", "stock saved at equal fill rate (share of the baseline's; blank: outside the range both reach)",
              saved.T.to_string(float_format=lambda v: f"{v:+.1%}", na_rep="")]
    curves = frontier.assign(knob=frontier["knob"] + " " + frontier["knob_value"].map(lambda v: f"{v:g}"))
    shown = curves[["policy", "knob", "fill_rate", "fill_rate_value", "cycle_service_level", "avg_on_hand_units",
                    "avg_on_hand_value", "units_expired"]]
    if not has_value(frontier):
        shown = shown.drop(columns=["avg_on_hand_value", "fill_rate_value"])
    lines += ["", "each policy over its own knob:",
              shown.to_string(index=False, na_rep="", formatters={
                  "fill_rate": "{:.2%}".format, "fill_rate_value": "{:.2%}".format, "cycle_service_level": "{:.1%}".format,
                  **{c: (lambda v: "" if not np.isfinite(v) else f"{v:,.0f}")
                     for c in ("avg_on_hand_units", "avg_on_hand_value", "units_expired")}}), ""]
    return "\n".join(lines)


def _runs(args: argparse.Namespace) -> int:
    from turnover.io.outputs import list_runs  # not the pipeline: no forecasting stack to import
    from turnover.settings import load_settings

    settings = load_settings(args.config, **({"warehouse_path": args.db} if args.db else {}))
    warehouse = settings.warehouse_path if args.db else settings.warehouse_to_read()  # after `make run`: the demo's
    runs = list_runs(warehouse, 10_000 if args.show else args.limit)
    if runs.empty:
        print(f"no runs recorded in {warehouse}")
        return 0
    if args.show:
        chosen = runs[runs["run_id"].str.startswith(args.show)]
        if chosen.empty:
            raise ValueError(f"no run {args.show!r} in {warehouse}")
        print(format_run(chosen.iloc[0]))
        return 0
    print(format_runs(runs))
    return 0


def _json(value) -> object:
    import json

    return json.loads(value) if isinstance(value, str) else (value or {})


def format_runs(runs) -> str:
    """One line per run: when, what it read, what it forecast and scored."""
    import pandas as pd

    scored = [_json(v) for v in runs["scored"]]
    table = pd.DataFrame({
        "run_id": runs["run_id"].str.slice(0, 12), "as_of": runs["as_of"].astype(str), "status": runs["status"],
        "started": runs["started_at"].dt.strftime("%Y-%m-%d %H:%M"),
        "seconds": (runs["finished_at"] - runs["started_at"]).dt.total_seconds().round(0),
        "series": runs["n_series"], "rows_read": runs["rows_read"], "loaded": runs["rows_loaded"],
        "rejected": runs["rows_rejected"],
        "scored": [f"{s.get('periods', 0)} from {len(s.get('forecast_runs', []))} run(s)" if s else "" for s in scored],
        "drift": [s.get("drift_flags", "") if s else "" for s in scored],
        "version": runs["package_version"],
        "files": [len(o) for o in runs["outputs"]],
    })
    return table.to_string(index=False, na_rep="")


def format_run(run) -> str:
    """Everything one run recorded."""
    as_of = str(run["as_of"])[:10]
    lines = [f"run       {run['run_id']} ({run['status']}), as of {as_of}, turnover {run['package_version']}",
             f"started   {run['started_at']}, finished {run['finished_at']}",
             f"rows      read {run['rows_read']}, loaded {run['rows_loaded']}, rejected {run['rows_rejected']}"]
    for item in _json(run["inputs"]) or []:
        rows = f" read {item['rows_read']}, loaded {item['rows_loaded']}, rejected {item['rows_rejected']}" if (
            "rows_read" in item) else ""
        rows = " (already loaded by an earlier run: skipped)" if item.get("already_loaded") else rows
        lines.append(f"input     {item['kind']}: {item['path']} sha256 {item['sha256'][:12]}{rows}")
    steps = _json(run["step_seconds"])
    lines.append("steps     " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    lines.append("models    " + ", ".join(f"{k} {v}" for k, v in _json(run["models"]).items()))
    scored = _json(run["scored"])
    if scored:
        lines.append(f"scored    {scored.get('periods', 0)} forecast periods of runs {', '.join(scored['forecast_runs'])}; "
                     f"{scored.get('drift_flags', 0)} drift flags")
    lines += [f"output    {path}" for path in run["outputs"]]
    lines.append(f"params    {run['parameters']}")
    return "\n".join(lines)


def _demo(args: argparse.Namespace) -> int:
    from turnover import calendar
    from turnover.io.demo import write_demo
    from turnover.synthetic import generate_pharmacy

    files = write_demo(generate_pharmacy(args.end or calendar.last_sunday()), args.dir)
    for path in [*files.history, files.catalog, files.on_hand, files.stockouts, files.closures, files.ilinet,
                 files.recalls, files.shortages]:
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``turnover`` console script."""
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from turnover.io.files import OutputError
    from turnover.io.ingest import IngestError
    from turnover.io.scope import AsOfError
    from turnover.io.warehouse import WarehouseError

    try:
        return {"run": _run, "runs": _runs, "demo": _demo, "replay": _replay}[args.command](args)
    except AsOfError as exc:  # what was typed does not fit the data: a usage error, as argparse's are
        print(f"turnover: error: {exc}", file=sys.stderr)
        return 2
    except (IngestError, WarehouseError, OutputError, OSError, ValueError, ValidationError) as exc:
        message = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else str(exc).replace("\n", " ")
        print(f"turnover: error: {message}{_recorded(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else: one line here, the traceback is in the run's log above
        first = str(exc).splitlines()[0] if str(exc) else ""
        log = getattr(exc, "turnover_log", None)
        traceback = f" (the traceback is in {log})" if log else ""
        print(f"turnover: error: {type(exc).__name__}: {first}{_recorded(exc)}{traceback}", file=sys.stderr)
        return 1


def _recorded(exc: Exception) -> str:
    """Where a failed run was recorded, when it was (a failure before the run started records nothing)."""
    run_id = getattr(exc, "turnover_failed_run", None)
    return f" [run {run_id[:12]} recorded as failed: turnover runs --show {run_id[:12]}]" if run_id else ""


if __name__ == "__main__":
    sys.exit(main())
