"""The ``turnover`` command.

``turnover run`` runs the weekly Prefect flow (without a Prefect server it starts Prefect's
temporary local one, which takes 15-30 s). ``turnover demo`` only writes the demo files. Errors in
what the user typed or in the input files end in one line on stderr and a non-zero exit.

Here: the options and the errors; ``cli_run`` runs ``turnover run``, ``cli_commands`` the others (replay, runs,
demo). Only ``turnover run`` imports Prefect and the forecasting stack, when it starts.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from flows import cli_commands, cli_run
from turnover import __version__


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``turnover`` console script."""
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from turnover.io.files import OutputError
    from turnover.io.ingest import IngestError
    from turnover.io.scope import AsOfError
    from turnover.io.warehouse import WarehouseError

    try:
        return {"run": cli_run.run_command, "runs": cli_commands.runs_command, "demo": cli_commands.demo_command,
                "replay": cli_commands.replay_command}[args.command](args)
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
