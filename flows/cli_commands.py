"""The other commands: ``turnover replay`` (and its tables), ``turnover runs`` (the run history) and
``turnover demo`` (the demo files).
"""

from __future__ import annotations

import argparse

from flows.cli_run import progress_bar


def replay_command(args: argparse.Namespace) -> int:
    from turnover import pipeline
    from turnover.settings import load_settings
    from turnover.simulation.frontier import FrontierSettings
    from turnover.simulation.replay import ReplaySettings

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

    from turnover.simulation.frontier import BASELINE_NAMES, fill_bases, has_value, headline, saving_at

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


def runs_command(args: argparse.Namespace) -> int:
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


def demo_command(args: argparse.Namespace) -> int:
    from turnover import calendar
    from turnover.demo.files import write_demo
    from turnover.demo.synthetic import generate_pharmacy

    files = write_demo(generate_pharmacy(args.end or calendar.last_sunday()), args.dir)
    for path in [*files.history, files.catalog, files.on_hand, files.stockouts, files.closures, files.ilinet,
                 files.recalls, files.shortages]:
        print(f"wrote {path}")
    return 0
