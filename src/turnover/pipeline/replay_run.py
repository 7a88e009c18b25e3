"""The replay command's step: the inventory replay over past dispensing and its files (and the efficient frontiers with
``--frontier``).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from turnover import schema
from turnover.inventory.policy import plan_series
from turnover.io import demand as demand_io
from turnover.io import files as file_io
from turnover.io import spreadsheet
from turnover.io.reference import read_reference
from turnover.pipeline.demand_forecast import linked_signals
from turnover.pipeline.runs import warehouse
from turnover.settings import Settings
from turnover.simulation.frontier import FrontierSettings
from turnover.simulation.frontier import savings as frontier_savings
from turnover.simulation.frontier_chart import frontier_png
from turnover.simulation.replay import KnownOn, ReplayResult, ReplaySettings, run_replay


def replay(settings: Settings, start: date, end: date, replay_settings: ReplaySettings | None = None,
           frontier: FrontierSettings | None = None) -> tuple[ReplayResult, list[Path]]:
    """Replay the recommended policy and two baselines over ``start`` .. ``end`` on the loaded history;
    write ``replay_<start>_<end>.csv`` (per series) and ``replay_<start>_<end>_totals.csv``; with ``frontier``,
    also each policy swept over its knob: ``…_frontier.csv``, ``…_frontier_savings.csv`` and ``…_frontier.png``
    (``replay_frontier_files``)."""
    replay_settings = replay_settings or ReplaySettings()
    with warehouse(settings) as con:
        shortages = read_reference(con, schema.SHORTAGES)
        demand_io.build_demand_series(con, end, "week", settings.policy)
        panel = demand_io.read_demand_panel(con)
        # The catalog as loaded; each review plans its own annual usage and tier from ``daily`` (replay.series_on).
        series = plan_series(demand_io.read_series(con), shortages, settings.policy, as_of=end)
        lookback_days = max(replay_settings.flat_lookback_days, settings.policy.usage_window_days)
        day0 = start - timedelta(days=lookback_days + 7)
        daily = demand_io.read_daily_demand(con, panel.keys, day0, end, net=True)
        signals = linked_signals(con, settings) if settings.forecast.period == "week" else {}
    forecast_settings = settings.forecast.model_copy(update={"period": "week"})
    known_on = KnownOn(shortages, signals)  # each review cuts them at its own as-of
    result = run_replay(panel, daily, day0, series, start, end, forecast_settings, settings.policy, known_on,
                        replay_settings, frontier)
    out = Path(settings.output_dir)
    names = series[["location_id", "drug_id", "drug_name"]]
    stem = f"replay_{start.isoformat()}_{end.isoformat()}"
    per_series = names.merge(result.per_series, on=["location_id", "drug_id"])
    written = [file_io.write_csv_atomic(per_series, out / f"{stem}.csv"),
               file_io.write_csv_atomic(result.totals, out / f"{stem}_totals.csv")]
    if result.frontier is not None:
        written += replay_frontier_files(result.frontier, out / stem, f"{start} .. {end}")
    return result, written


def replay_frontier_files(frontier: pd.DataFrame, stem: Path, period: str) -> list[Path]:
    """Write the frontier (``<stem>_frontier.csv``), the savings at equal fill rate (``…_frontier_savings.csv``)
    and the curves (``…_frontier.png``), all or none."""
    png = frontier_png(frontier, f"replay {period}: average stock against fill rate, each policy over its own knob")
    return file_io.write_files_atomic({
        stem.with_name(f"{stem.name}_frontier.csv"): spreadsheet.write_csv(frontier),
        stem.with_name(f"{stem.name}_frontier_savings.csv"): spreadsheet.write_csv(frontier_savings(frontier)),
        stem.with_name(f"{stem.name}_frontier.png"): spreadsheet.FileWriter(None, lambda handle: handle.write(png)),
    })
