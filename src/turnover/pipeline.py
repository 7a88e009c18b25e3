"""The weekly run's steps, one function each: what a flow task calls.

Each step opens its own warehouse connection, does its work through the io and domain modules,
and returns something small (counts, a date, paths). Steps are idempotent: a load skips files
already in the ledger, and a run's outputs replace that run's partition. A run holds the warehouse
from its first step to its last (:func:`exclusive_run`), so a second run is refused at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from turnover import calendar, schema, tracking
from turnover.allocation import SERVICE_GRID, meet_fill_rate
from turnover.digest import RunDigest
from turnover.expiry import usage_table
from turnover.forecast import BatchMap, ProtectionWindow, Selection, forecast_panel, serial_map
from turnover.frontier import FrontierSettings
from turnover.frontier import savings as frontier_savings
from turnover.frontier_chart import frontier_png
from turnover.io import demand as demand_io
from turnover.io import files as file_io
from turnover.io import outputs, publish, scope, spreadsheet
from turnover.io import retention as retention_io
from turnover.io import selection as selection_io
from turnover.io import tracking as tracking_io
from turnover.io.demo import DemoFiles, demo_files, write_demo
from turnover.io.digest import read_digest
from turnover.io.ingest import LoadReport, load_dispensing
from turnover.io.reference import (
    load_catalog,
    load_closures,
    load_on_hand,
    load_recalls,
    load_shortages,
    load_stockouts,
    read_reference,
)
from turnover.io.signals import LinkedSignal, load_signal, published_by, read_history_end, read_signals
from turnover.io.warehouse import file_sha256, held_elsewhere, open_warehouse, verify
from turnover.kpis import run_totals, turnover_kpis
from turnover.policy import finish_calendar, par_levels, plan_series
from turnover.reasons import since_words
from turnover.recalls import match_recalls, recalls_known_on
from turnover.replay import KnownOn, ReplayResult, ReplaySettings, run_replay
from turnover.report import render_html
from turnover.settings import Settings
from turnover.shortages import alternatives
from turnover.stock import project_stock
from turnover.synthetic import generate_pharmacy
from turnover.transfers import lot_transfers, plan_transfers, series_transfers, transfer_notes, with_transfer_notes

log = logging.getLogger(__name__)


def ensure_demo(settings: Settings, end: date | None = None) -> DemoFiles:
    """The demo files in ``settings.demo_dir``, generated (ending on ``end``, default last Sunday) if any is
    missing."""
    files = demo_files(settings.demo_dir)
    if files.exist():
        log.info("demo data found in %s", settings.demo_dir)
        return files
    end = end or calendar.last_sunday()
    log.info("generating demo data in %s (ending %s)", settings.demo_dir, end)
    return write_demo(generate_pharmacy(end), settings.demo_dir)


def load_history(settings: Settings, paths: list[str | Path], mapping: str | None = None,
                 replaces: list[str | Path] | None = None) -> list[LoadReport]:
    """Load dispensing exports; files already loaded are skipped. ``replaces`` names earlier files whose rows
    the first export loaded replaces (``io.resend``)."""
    with _warehouse(settings) as con:
        return load_dispensing(con, list(paths), settings.ingest, mapping, replaces=replaces or ())


REFERENCE_LOADERS = {
    "catalog": load_catalog, "on_hand": load_on_hand, "stockouts": load_stockouts, "closures": load_closures,
    "recalls": load_recalls, "shortages": load_shortages,
}


def load_reference(settings: Settings, **files: str | Path | None) -> dict[str, int]:
    """Replace each reference snapshot given (``catalog``, ``on_hand``, ``stockouts``, ``closures``,
    ``recalls``, ``shortages``)."""
    counts = {}
    with _warehouse(settings) as con:
        for kind, path in files.items():
            if path:
                counts[kind] = REFERENCE_LOADERS[kind](con, path)
    return counts


def load_signals(settings: Settings, files: dict[str, str | Path]) -> dict[str, int]:
    """Load each configured signal's FluView export given as ``{name: path}``; returns weeks loaded."""
    links = {link.name: link for link in settings.forecast.signals}
    unknown = sorted(set(files) - set(links))
    if unknown:
        raise ValueError(f"signal(s) {unknown} not configured (configured: {sorted(links)})")
    with _warehouse(settings) as con:
        return {name: load_signal(con, name, path, links[name].value_column) for name, path in files.items()}


def run_scope(settings: Settings, loads: list[LoadReport]) -> tuple[list[str] | None, list[str]]:
    """The locations this run plans, and warnings for the run screen.

    Given history files, the run is about their locations (``io.scope``): the warehouse's other locations are
    neither planned nor counted, and a warning names them. Given none (None), it plans every location that
    dispensed in the ``policy.usage_window_days`` before its as-of date.
    """
    if not loads:
        return None, []
    with _warehouse(settings, read_only=True) as con:
        locations = scope.file_locations(con, [r.file_sha256 for r in loads])
        others = sorted(set(scope.all_locations(con)) - set(locations))
    if not locations:
        return None, ["no row of this run's history files is in the warehouse (all rejected or replaced): planning "
                      "the locations that dispensed in the last year"]
    if not others:
        return locations, []
    named = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return locations, [f"{settings.warehouse_path} also holds dispensing at {len(others)} location(s) not in this "
                       f"run's history ({named}): not planned; give another pharmacy its own --db"]


def resolve_as_of(settings: Settings, as_of: date | None, today: date | None = None,
                  locations: list[str] | None = None) -> date:
    """``as_of`` if given, else the latest dispensing date loaded at ``locations`` (default all; never after today).

    Raises:
        AsOfError: nothing is loaded, or ``as_of`` is before the first dispensing day or more than
            ``forecast.max_days_after_last_dispensing`` after the last (the message gives the range held).
    """
    with _warehouse(settings) as con:
        days = scope.dispensing_days(con, locations, today)
    return scope.check_as_of(as_of, days, settings.warehouse_path, settings.forecast.max_days_after_last_dispensing)


@contextmanager
def exclusive_run(settings: Settings) -> Iterator[None]:
    """Hold the warehouse for a run (``io.files.exclusive_run``)."""
    with file_io.exclusive_run(settings.warehouse_path, settings.output_dir):
        yield


def _warehouse(settings: Settings, read_only: bool = False):
    """The run's warehouse connection (``open_warehouse``) with DuckDB's memory limit and threads as configured."""
    return open_warehouse(settings.warehouse_path, read_only, memory_limit=settings.execution.duckdb_memory_limit,
                          threads=settings.execution.duckdb_threads)


def start_run(settings: Settings, run_id: str, as_of: date) -> int:
    """Record the run as started. Runs still marked running whose process has ended (no other process holds
    the warehouse) are recorded as interrupted; returns how many."""
    interrupted = 0
    with _warehouse(settings) as con:
        if not held_elsewhere(settings.warehouse_path):
            interrupted = outputs.mark_interrupted(con, run_id)
            if interrupted:
                log.warning("%s", interrupted_words(interrupted))
        outputs.start_run(con, run_id, as_of, settings.forecast.period, outputs.settings_json(settings))
    return interrupted


def interrupted_words(runs: int) -> str:
    """The run screen's warning that earlier runs were interrupted."""
    return (f"{runs} earlier run(s) had been interrupted (killed or stopped before finishing): recorded as "
            "interrupted; `turnover runs` lists them")


@contextmanager
def failures_recorded(settings: Settings, run_id: str):
    """Mark the run failed in ``marts.runs`` if the block raises (the error still propagates)."""
    try:
        yield
    except Exception as exc:
        with _warehouse(settings) as con:
            outputs.fail_run(con, run_id, f"{type(exc).__name__}: {exc}")
        exc.turnover_failed_run = run_id  # the command line says the run was recorded only when it was
        raise


def replay(settings: Settings, start: date, end: date, replay_settings: ReplaySettings | None = None,
           frontier: FrontierSettings | None = None) -> tuple[ReplayResult, list[Path]]:
    """Replay the recommended policy and two baselines over ``start`` .. ``end`` on the loaded history;
    write ``replay_<start>_<end>.csv`` (per series) and ``replay_<start>_<end>_totals.csv``; with ``frontier``,
    also each policy swept over its knob: ``…_frontier.csv``, ``…_frontier_savings.csv`` and ``…_frontier.png``
    (``replay_frontier_files``)."""
    replay_settings = replay_settings or ReplaySettings()
    with _warehouse(settings) as con:
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


def run_summary(settings: Settings, run_id: str) -> dict:
    """The totals a run recorded (turns, flags, money at risk)."""
    with _warehouse(settings, read_only=True) as con:
        return outputs.read_summary(con, run_id)


def list_runs(settings: Settings, limit: int = 20):
    """The latest runs recorded in the warehouse, newest first (``outputs.list_runs``)."""
    return outputs.list_runs(settings.warehouse_path, limit)


def verify_warehouse(settings: Settings) -> int:
    """Check every table of the warehouse reads back whole (``warehouse.verify``) before outputs are written from
    it; returns the tables checked."""
    with _warehouse(settings, read_only=True) as con:
        return verify(con, settings.warehouse_path)


def record_run(settings: Settings, run_id: str, **fields) -> None:
    """Keep what the run saw and did on its record (``outputs.RUN_RECORD_FIELDS``)."""
    with _warehouse(settings) as con:
        outputs.record_run(con, run_id, **fields)


def apply_retention(settings: Settings, as_of: date) -> dict[str, int]:
    """After a run: drop the per-series detail of runs past ``[retention] detail_days`` and compact scores past
    ``scores_days`` (``turnover.retention``); returns the runs thinned and rows deleted by table."""
    with _warehouse(settings) as con:
        deleted = retention_io.apply(con, as_of, settings.forecast.period, settings.retention.detail_days,
                                     settings.retention.scores_days, settings.tracking.drift_window_periods)
    if deleted["runs_thinned"] or deleted.get(schema.FORECAST_ACCURACY):
        log.info("retention: %d earlier runs' per-series tables dropped; %d scores compacted", deleted["runs_thinned"],
                 deleted.get(schema.FORECAST_ACCURACY, 0))
    return deleted


def score_forecasts(settings: Settings, run_id: str, as_of: date) -> dict:
    """Score earlier runs' forecasts against the periods dispensed since, keep the scores, and flag the series
    whose recent errors drifted beyond their backtest error. Run after ``build_demand`` (it reads the actuals
    from the demand series built for ``as_of``). The scores are computed and kept in the warehouse, each run x
    series scaled by ``tracking.history_scales``."""
    period = settings.forecast.period
    with _warehouse(settings) as con:
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


def input_records(loads: list[LoadReport], reference: dict[str, str | Path | None]) -> list[dict]:
    """What the run read, for its record: each dispensing file with its hash and row accounting, and each
    reference file with its hash."""
    records = [{"kind": "dispensing", "path": r.file_path, "sha256": r.file_sha256, "rows_read": r.rows_read,
                "rows_loaded": r.rows_loaded, "rows_rejected": r.rows_rejected, "already_loaded": r.already_loaded,
                "encoding": r.encoding, "refused_columns": list(r.refused_columns),
                "rows_overlapping": r.rows_overlapping, "replaced_files": list(r.replaced_files),
                "rows_replaced": r.rows_replaced, "drugs_not_in_catalog": len(r.drugs_not_in_catalog or ()),
                "suspect_ndcs": len(r.suspect_ndcs)}
               for r in loads]
    records += [{"kind": kind, "path": str(path), "sha256": file_sha256(path)}
                for kind, path in reference.items() if path]
    return records


def row_accounting(loads: list[LoadReport]) -> dict[str, int]:
    """Rows read, loaded and rejected by this run's loads (files already loaded add nothing)."""
    fresh = [r for r in loads if not r.already_loaded]
    return {"rows_read": sum(r.rows_read for r in fresh), "rows_loaded": sum(r.rows_loaded for r in fresh),
            "rows_rejected": sum(r.rows_rejected for r in fresh)}


def build_demand(settings: Settings, as_of: date, locations: list[str] | None = None) -> int:
    """Rebuild the demand series and the series list for ``as_of``, with each series' service tier and
    shortage adjustments, at ``locations`` (default: those that dispensed in the usage window, ``run_scope``);
    returns the series count."""
    with _warehouse(settings) as con:
        demand_io.build_demand_series(con, as_of, settings.forecast.period, settings.policy)
        n = scope.keep_locations(con, scope.active_locations(con, as_of, settings.policy.usage_window_days)
                                 if locations is None else locations)
        planned = plan_series(demand_io.read_series(con), read_reference(con, schema.SHORTAGES), settings.policy,
                              as_of=as_of)  # shortages posted by then
        demand_io.replace_series(con, planned)
    return n


def forecast(settings: Settings, run_id: str, as_of: date, map_batches: BatchMap = serial_map) -> int:
    """Classify, backtest, choose and forecast every series; store every frame; returns the series count.

    Incremental rule: a full reselection (every series backtested, recalibration refitted) when the latest
    completed run's selection is ``forecast.reselect_every_days`` old or older, or there is none; in
    between, series the stored selection chose by backtest refit that model on their new history with
    the stored recalibration, and only new series and those chosen by rule (no, short or intermittent
    history) are selected afresh. The per-series work runs in batches of ``settings.execution.batch_series``
    through ``map_batches`` (one after another here by default; the flow passes its task runner's map).
    """
    with _warehouse(settings) as con:
        panel = demand_io.read_demand_panel(con)
        series = demand_io.read_series(con)
        signals = signals_by_drug(con, settings, as_of)
        stored = selection_io.read_latest_selection(con, settings.forecast.period, as_of)
    window = ProtectionWindow(
        lead_time_days=series["lead_time_days"].to_numpy(),
        review_period_days=settings.policy.review_period_days,
        service_level=series["service_level"].to_numpy(dtype=float),
        calendar_periods=settings.par_calendar_periods(),
        curve_levels=SERVICE_GRID if settings.policy.fill_rate_target else (),
    )
    reuse = reusable(stored, as_of, settings.forecast.reselect_every_days)
    result = forecast_panel(panel, window, as_of, settings.forecast, signals, reuse=reuse, map_batches=map_batches,
                            batch_series=settings.execution.batch_series)
    protection, calendar_rows = result.protection, result.calendar
    if settings.policy.fill_rate_target:  # each drug's level chosen to meet the target at least stock value
        protection, calendar_rows, fill_by_location = meet_fill_rate(result, series, settings.policy)
        log.info("fill-rate target %.1f%%: expected %s", 100 * settings.policy.fill_rate_target,
                 ", ".join(f"{loc} {fill:.2%}" for loc, fill in fill_by_location.items()))
    else:  # the tiers' levels: no level chosen, no expected fill rate
        protection = protection.assign(service_basis=pd.Series([None] * len(protection), dtype=object),
                                       expected_fill_rate=np.nan)
    protection = protection.assign(review_period_days=settings.policy.review_period_days)
    models = protection["model"].value_counts().sort_index()
    selection = result.selection.frame()
    reselected = reuse is None
    selection = selection.assign(
        selected_run_id=run_id if reselected else stored.selected_run_id,  # type: ignore[union-attr]
        selected_as_of=as_of if reselected else stored.selected_as_of,  # type: ignore[union-attr]
    ).drop(columns="fresh")
    with _warehouse(settings) as con:
        outputs.write_run_tables(con, run_id, {
            schema.FORECAST: result.forecast, schema.PROTECTION_DEMAND: protection, schema.PAR_CALENDAR: calendar_rows,
            schema.DEMAND_CLASS: result.classes, schema.BACKTEST_SCORES: result.scores,
            schema.CALIBRATION: result.calibration, schema.MODEL_SELECTION: selection,
        })
        outputs.record_run(con, run_id, models={str(k): int(v) for k, v in models.items()})
    fresh = int(sum(result.selection.fresh))
    if reselected:
        log.info("forecast %d series: full model reselection", len(protection))
    else:
        log.info("forecast %d series: refitted the models selected on %s; %d series selected afresh (new, or "
                 "chosen by rule)", len(protection), stored.selected_as_of, fresh)  # type: ignore[union-attr]
    return len(protection)


def reusable(stored: selection_io.StoredSelection | None, as_of: date, every_days: int) -> Selection | None:
    """The stored selection's backtest choices, while it is under ``every_days`` old; else None (reselect)."""
    if stored is None or every_days <= 0 or (as_of - stored.selected_as_of).days >= every_days:
        return None
    rows = stored.rows[stored.rows["by_backtest"].astype(bool)]
    keys = tuple(zip(rows["location_id"], rows["drug_id"], strict=True))
    return Selection(keys, tuple(zip(rows["model"], rows["basis"], strict=True)), stored.near, stored.all,
                     by_backtest=(True,) * len(keys), fresh=(False,) * len(keys))


def signals_by_drug(con, settings: Settings, as_of: date | None = None) -> dict[str, dict[int, float]]:
    """Each linked drug's signal keyed by absolute week index (weekly runs only), only the weeks published by
    ``as_of`` (each link's ``publication_lag_days`` after the week ends: ``io.signals.published_by``). Without
    ``as_of``, by the last day of the demand series as built: the run's last complete week, never after it."""
    if settings.forecast.period != "week":
        return {}
    as_of = as_of or read_history_end(con)
    linked = linked_signals(con, settings)
    return published_by(linked, as_of) if as_of else {}


def linked_signals(con, settings: Settings) -> dict[str, LinkedSignal]:
    """Each linked drug's signal, every week loaded, with its link's publication lag (cut it with
    ``io.signals.published_by`` for a date)."""
    loaded = read_signals(con)
    catalog = con.execute(f"select drug_id, coalesce(atc_code, '') from {schema.CATALOG}").fetchall()
    out: dict[str, LinkedSignal] = {}
    for link in settings.forecast.signals:
        if link.name not in loaded:
            continue
        series = loaded[link.name]
        by_index = {calendar.period_index(day.date(), "week"): float(v) for day, v in series.items()}
        drugs = set(link.drug_ids) | {d for d, atc in catalog if any(atc.startswith(p) for p in link.atc_prefixes)}
        out.update({drug: LinkedSignal(by_index, link.publication_lag_days) for drug in drugs})
    return out


def set_par_levels(settings: Settings, run_id: str, as_of: date) -> int:
    """Par levels for every series of the run, from its stock by lot, the recalls known on ``as_of``
    (``recalls.recalls_known_on``) and shortages; also the lot projection, quarantine list, shortage list, par
    calendar, KPIs and run totals. Returns rows."""
    policy = settings.policy
    with _warehouse(settings) as con:
        series = demand_io.read_series(con).merge(
            outputs.read_run_table(con, schema.DEMAND_CLASS, run_id), on=["location_id", "drug_id"], how="left"
        )
        protection = outputs.read_run_table(con, schema.PROTECTION_DEMAND, run_id)
        forecast_means = outputs.read_run_table(con, schema.FORECAST, run_id,
                                                ["location_id", "drug_id", "period_start", "mean"])
        lots = read_reference(con, schema.ON_HAND_LOTS)
        lots = lots[lots["location_id"].isin(set(series["location_id"]))]  # the run's locations only (run_scope)
        recalls = recalls_known_on(read_reference(con, schema.RECALLS), as_of)  # not one reported later
        calendar_raw = outputs.read_run_table(con, schema.PAR_CALENDAR, run_id)
        previous = outputs.previous_run(con, settings.forecast.period, as_of)
        if previous:
            series = series.merge(outputs.read_run_table(con, schema.PAR_LEVELS, previous[0], [
                "location_id", "drug_id", "par_level_units"]).rename(columns={"par_level_units": "previous_par_units"}),
                on=["location_id", "drug_id"], how="left")
    series = chosen_levels(series, protection)
    protection = protection.drop(columns=["service_level", "lead_time_days", "review_period_days", "service_basis",
                                          "expected_fill_rate"], errors="ignore")
    quarantine = match_recalls(lots, recalls)
    curves = usage_table(forecast_means, series, settings.forecast.period, as_of + timedelta(days=1))
    lot_rows, stock = project_stock(series, lots, quarantine, curves, as_of)
    transfers = plan_transfers(lot_rows, stock, series, curves, as_of, policy.transfer_days)
    stock = series_transfers(series, stock, transfers, curves, policy.transfer_days)
    lot_rows = lot_transfers(lot_rows, transfers)
    series = series.merge(stock, on=["location_id", "drug_id"], how="left")
    offered = alternatives(series, set(series.loc[series["in_shortage"], "drug_id"]))
    series["alternatives"] = [offered.get(key, "") for key in series_keys(series)]
    unit = "weeks" if settings.forecast.period == "week" else "months"
    # The position counts a transfer in as on order and a transfer out as gone; the columns keep the snapshot's.
    moved = series.assign(on_order_units=series["on_order_units"] + series["transfer_in_units"].fillna(0.0),
                          usable_on_hand_units=series["usable_on_hand_units"] - series["transfer_out_units"].fillna(0.0))
    pars = par_levels(moved, protection, policy, unit, settings.forecast.seasonal_strength_threshold,
                      since=since_words(as_of, previous[1] if previous else None, settings.forecast.period))
    pars = pars.assign(on_order_units=pars["on_order_units"] - pars["transfer_in_units"].fillna(0.0),
                       usable_on_hand_units=pars["usable_on_hand_units"] + pars["transfer_out_units"].fillna(0.0))
    notes = transfer_notes(pars, transfers)
    pars["reason"] = with_transfer_notes(pars["reason"], notes)
    cover = curves.days_of_cover(curves.rows(pars["location_id"], pars["drug_id"]), pars["usable_on_hand_units"])
    pars = turnover_kpis(pars, cover, policy)
    shortage_rows = pars[pars["in_shortage"]].rename(columns={"shortage_availability": "availability"})
    totals = run_totals(pars, lot_rows, quarantine, shortage_rows)
    if policy.fill_rate_target:  # the expected fill rate of the levels chosen, drugs weighed by expected use
        use = pars["forecast_units_next_4_periods"].clip(lower=0).fillna(0.0)
        fill = pars["expected_fill_rate"].fillna(1.0)
        totals |= {"fill_rate_target": policy.fill_rate_target,
                   "expected_fill_rate": round(float((use * fill).sum() / use.sum()) if use.sum() > 0 else 1.0, 4)}
    totals |= {"transfers": len(transfers), "transfer_units": round(float(transfers["units"].sum()), 1),
               "transfer_value": round(float(transfers["value_saved"].fillna(0).sum()), 2)}
    with _warehouse(settings) as con:
        outputs.write_run_tables(con, run_id, {
            schema.PAR_LEVELS: pars, schema.PAR_CALENDAR: finish_calendar(calendar_raw, pars), schema.LOTS: lot_rows,
            schema.QUARANTINE: quarantine, schema.SHORTAGE_FLAGS: shortage_rows, schema.TRANSFERS: transfers,
        })
        outputs.append_recall_audit(con, run_id, as_of, quarantine)
        outputs.record_summary(con, run_id, totals)
    log.info("par levels: %s", totals)
    return len(pars)


def chosen_levels(series: pd.DataFrame, protection: pd.DataFrame) -> pd.DataFrame:
    """``series`` with the service level, its basis and the expected fill rate the forecast step chose under a
    fill-rate target (``allocation.meet_fill_rate``); without one, the tiers' levels and no expected fill rate."""
    chosen = protection[["location_id", "drug_id", "service_level", "service_basis", "expected_fill_rate"]]
    chosen = chosen[chosen["service_basis"].notna()]
    out = series.merge(chosen, on=["location_id", "drug_id"], how="left", suffixes=("", "_chosen"))
    picked = out["service_basis_chosen"].notna().to_numpy()
    return out.assign(service_level=np.where(picked, out["service_level_chosen"], out["service_level"]),
                      service_basis=np.where(picked, out["service_basis_chosen"], out["service_basis"]),
                      ).drop(columns=["service_level_chosen", "service_basis_chosen"])


def series_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["location_id"], frame["drug_id"], strict=True))


def export(settings: Settings, run_id: str, as_of: date) -> list[Path]:
    """Write the purchasing CSVs: par levels (all and per location), forecast, par calendar, expiry risk by
    lot, transfers before expiry, quarantine list and shortages, each named with ``as_of``; and the HTML run report beside them.

    They are published as one set (``io.publish``: a run folder, then the manifest ``latest.json`` switched
    at once, then the top-level files), and the run is recorded completed only after: a run that fails or is
    killed here leaves the previous set, whole.
    """
    return export_digest(settings, run_id, as_of)[0]


def export_digest(settings: Settings, run_id: str, as_of: date) -> tuple[list[Path], RunDigest]:
    """:func:`export`, and the run's digest the report was made from, as the run is then recorded (its outputs:
    every file written): what the run summary is made of, without reading it again."""
    out = Path(settings.output_dir)
    stamp = as_of.isoformat()
    with _warehouse(settings) as con:
        stored_pars = outputs.read_run_table(con, schema.PAR_LEVELS, run_id)
        names = stored_pars[["location_id", "drug_id", "drug_name"]]
        pars = stored_pars[list(schema.PAR_LEVEL_CSV_COLUMNS)]
        fc = outputs.read_forecast_csv_rows(con, run_id)
        calendar_rows = outputs.read_run_table(con, schema.PAR_CALENDAR, run_id,
                                               ["location_id", "drug_id", "week_start", "par_level_units"])
        tables = {name: outputs.read_run_table(con, name, run_id)
                  for name in (schema.LOTS, schema.QUARANTINE, schema.SHORTAGE_FLAGS)}
        lots = tables[schema.LOTS].merge(names, on=["location_id", "drug_id"], how="left")
        quarantine = tables[schema.QUARANTINE].merge(names, on=["location_id", "drug_id"], how="left")
        shortages = tables[schema.SHORTAGE_FLAGS]
        transfers = outputs.read_run_table(con, schema.TRANSFERS, run_id).merge(
            names.rename(columns={"location_id": "from_location_id"}), on=["from_location_id", "drug_id"], how="left")
        frames = {  # after the par levels, which are written whole and by location below
            f"forecast_{stamp}.csv": fc,
            f"par_calendar_{stamp}.csv": wide_calendar(calendar_rows, names),
            f"expiry_risk_{stamp}.csv": lots[list(schema.LOTS_CSV_COLUMNS)],
            f"transfers_{stamp}.csv": transfers[list(schema.TRANSFER_CSV_COLUMNS)],
            f"quarantine_{stamp}.csv": quarantine[list(schema.QUARANTINE_CSV_COLUMNS)],
            f"shortages_{stamp}.csv": shortages[list(schema.SHORTAGE_CSV_COLUMNS)],
        }
        digest = read_digest(con, run_id, {schema.PAR_LEVELS: stored_pars, **tables},
                             seasonal_strength=settings.forecast.seasonal_strength_threshold)
    # The whole par-level file and one per location, each row formatted once.
    whole_pars, by_location = spreadsheet.write_csv_by(pars, "location_id")
    files = {f"par_levels_{stamp}.csv": whole_pars} | {name: spreadsheet.write_csv(frame) for name, frame in frames.items()}
    # File names from data (location ids) are reduced to one safe name component: never a path.
    parts = file_io.file_parts([str(location) for location in by_location])
    for location, writer in by_location.items():
        files[f"by_location/par_levels_{stamp}_{parts[str(location)]}.csv"] = writer
    digest = replace(digest, outputs=tuple(str(out / name) for name in files))
    files[f"report_{stamp}.html"] = spreadsheet.write_text(render_html(digest))
    written = publish.publish_set(out, stamp, files, run_id)
    with _warehouse(settings) as con:
        outputs.finish_run(con, run_id, len(pars), [str(p) for p in written])
    return written, replace(digest, outputs=tuple(str(p) for p in written))


def wide_calendar(calendar_rows: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """One row per location x drug, one ``par_<week start>`` column per week ahead (the spreadsheet view)."""
    wide = calendar_rows.pivot_table(index=["location_id", "drug_id"], columns="week_start", values="par_level_units",
                                     aggfunc="first")
    wide.columns = [schema.PAR_WEEK_COLUMN.format(week_start=pd.Timestamp(c).date().isoformat()) for c in wide.columns]
    return names.merge(wide.reset_index(), on=["location_id", "drug_id"], how="inner")
