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

import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from turnover import calendar, schema
from turnover.calendar import Period
from turnover.io.warehouse import WarehouseError, open_warehouse, quote_identifier, transaction

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


def run_detail(con: duckdb.DuckDBPyConnection):
    """``run_id, as_of, has_detail`` of every run: whether it still has its per-series tables (par levels,
    classes)."""
    return con.execute(
        f"""
        select run_id, as_of,
               exists (select 1 from {schema.PAR_LEVELS} p where p.run_id = r.run_id)
               or exists (select 1 from {schema.DEMAND_CLASS} c where c.run_id = r.run_id) as has_detail
        from {schema.RUNS} r
        order by as_of
        """).df()


def runs_with_detail(con: duckdb.DuckDBPyConnection):
    """``run_id, as_of`` of the runs that still have their per-series tables."""
    runs = run_detail(con)
    return runs.loc[runs["has_detail"], ["run_id", "as_of"]].reset_index(drop=True)


def protected_runs(con: duckdb.DuckDBPyConnection, period: str) -> set[str]:
    """The latest completed run and the run whose selection it reuses: the next weekly run reads both."""
    latest = con.execute(f"select run_id from {schema.RUNS} where status = 'completed' and period = ? "
                         "order by as_of desc, finished_at desc limit 1", [period]).fetchall()
    if not latest:
        return set()
    selected = con.execute(f"select distinct selected_run_id from {schema.MODEL_SELECTION} where run_id = ?",
                           [latest[0][0]]).fetchall()
    return {latest[0][0], *(r[0] for r in selected)}


def apply(con: duckdb.DuckDBPyConnection, as_of: date, period: str, detail_days: int, scores_days: int,
          drift_window_periods: int = 0) -> dict[str, int]:
    """Drop the per-series detail of old runs, the forecast periods of old runs complete by ``as_of`` (scored),
    their unchosen backtest scores, and compact old and superseded scores; returns the
    runs thinned and the rows deleted, by table (tables with none left out)."""
    keep = protected_runs(con, period)
    runs = run_detail(con)
    thin = runs_to_thin(runs[runs["has_detail"]], as_of, detail_days, keep)
    cutoff = scores_cutoff(as_of, scores_days, period, drift_window_periods)  # type: ignore[arg-type]
    superseded = superseded_cutoff(as_of, detail_days)
    deleted: dict[str, int] = {"runs_thinned": len(thin)}
    with transaction(con):
        if thin:
            for table in DETAIL_TABLES:
                deleted[table] = con.execute(f"delete from {table} where run_id in (select unnest(?::varchar[]))",
                                             [thin]).fetchone()[0]
        if detail_days:
            # this run's and earlier runs' thinned: what they keep of their forecast is the periods to score yet
            thinned = sorted({*thin, *(set(runs.loc[~runs["has_detail"], "run_id"]) - keep)})
            complete = calendar.last_history_start(as_of, period)  # periods starting through it are complete
            deleted[schema.FORECAST] = con.execute(
                f"delete from {schema.FORECAST} where run_id in (select unnest(?::varchar[])) and period_start <= ?",
                [thinned, complete]).fetchone()[0]
            deleted[schema.BACKTEST_SCORES] = con.execute(
                f"delete from {schema.BACKTEST_SCORES} where run_id in (select unnest(?::varchar[])) and not chosen",
                [thin]).fetchone()[0]
        if cutoff is not None or superseded is not None:
            deleted[schema.FORECAST_ACCURACY] = _compact_scores(con, cutoff or date.min, superseded or date.min)
        if cutoff is not None:
            # What a drift flag compares with, of runs whose forecasts are all scored and past the window: their
            # selection (which run's backtest chose each model), then the chosen backtest scores no kept selection
            # points to.
            for table, referenced in ((schema.MODEL_SELECTION, ""), (schema.BACKTEST_SCORES, f"""
                  and not exists (select 1 from {schema.MODEL_SELECTION} s where s.selected_run_id = b.run_id)""")):
                deleted[f"{table} of old runs"] = con.execute(
                    f"""delete from {table} b using {schema.RUNS} r
                    where r.run_id = b.run_id and r.as_of < ? and not b.run_id in (select unnest(?::varchar[]))
                      and not exists (select 1 from {schema.FORECAST} f where f.run_id = b.run_id){referenced}""",
                    [cutoff, sorted(keep)]).fetchone()[0]
    return {k: v for k, v in deleted.items() if v or k == "runs_thinned"}


def _compact_scores(con: duckdb.DuckDBPyConnection, before: date, superseded_before: date) -> int:
    """Move into ``marts.accuracy_summary`` the scores of periods starting before ``before``, and those of periods
    starting before ``superseded_before`` that a shorter-horizon score of the same series and period superseded
    (the order a drift flag reads them in: ``io.tracking.read_recent_scores``); returns the rows moved."""
    con.execute(
        f"""
        create or replace temp table _compacted as
        select row_id from (
            select rowid as row_id, period_start,
                   row_number() over (partition by location_id, drug_id, period_start
                                      order by horizon_periods, forecast_run_id) as nth
            from {schema.FORECAST_ACCURACY}
            where period_start < greatest($before, $superseded)
        )
        where period_start < $before or (period_start < $superseded and nth > 1)
        """, {"before": before, "superseded": superseded_before})
    try:
        coverage = ", ".join(f"count(*) filter (where actual_units <= {q}_units) as covered_{q}"
                             for q in schema.QUANTILE_COLUMNS)
        con.execute(
            f"""
            insert into {schema.ACCURACY_SUMMARY} by name
            select forecast_run_id, forecast_as_of, period_start, model, demand_class, horizon_periods,
                   count(*) as scored_periods, sum(scaled_abs_error) as sum_scaled_abs_error,
                   sum(abs_error_units) as sum_abs_error_units, sum(actual_units) as sum_actual_units,
                   sum(mean_units) as sum_mean_units, {coverage}
            from {schema.FORECAST_ACCURACY}
            where rowid in (select row_id from _compacted)
            group by all
            """)
        return con.execute(f"delete from {schema.FORECAST_ACCURACY} where rowid in (select row_id from _compacted)"
                           ).fetchone()[0]
    finally:
        con.execute("drop table if exists _compacted")


#: Where a compaction writes the new file before it replaces the warehouse (a killed one leaves it; the next removes it).
COMPACT_SUFFIX = ".compacting"


def compact(path: str | Path) -> tuple[int, int] | None:
    """Rewrite the warehouse file without its free space; returns its size in bytes before and after, or None
    when a write-ahead log beside it shows an unfinished write (the next open replays it; a copy made now would
    leave that log beside the new file).

    DuckDB reuses the blocks a delete frees but never shrinks its file, and rows deleted from a block leave it
    partly empty; a copy of every table into a new file (``COPY FROM DATABASE``: tables, constraints, rows)
    packs them. The copy's row counts are checked against the warehouse's, then the copy replaces the warehouse
    in one rename: a process killed at any point leaves the warehouse whole (and at most a ``.compacting`` file
    beside it, which the next compaction replaces). Call it with no connection to the file open (the run holds
    the warehouse's run lock, so no other run opens it meanwhile).

    Raises:
        WarehouseError: the copy's rows differ from the warehouse's (the warehouse is left as it was).
    """
    path = Path(path)
    target = path.with_name(path.name + COMPACT_SUFFIX)
    if Path(str(path) + ".wal").exists():
        return None
    target.unlink(missing_ok=True)
    before = path.stat().st_size
    con = duckdb.connect()
    try:
        con.execute("attach ? as old (read_only)", [str(path)])
        con.execute("attach ? as new", [str(target)])
        con.execute("copy from database old to new")
        tables = con.execute("select schema_name, table_name from duckdb_tables() where database_name = 'old'").fetchall()
        for schema_name, table in tables:
            name = f"{quote_identifier(schema_name)}.{quote_identifier(table)}"
            counts = con.execute(f"select (select count(*) from old.{name}), (select count(*) from new.{name})").fetchone()
            if counts[0] != counts[1]:
                raise WarehouseError(f"compacting {path}: table {schema_name}.{table} has {counts[0]} rows, its copy "
                                     f"{counts[1]}; the warehouse is left as it was")
        con.execute("detach new")
        con.execute("detach old")
        con.close()
        os.replace(target, path)
    except BaseException:
        con.close()
        target.unlink(missing_ok=True)
        raise
    return before, path.stat().st_size


def last_file_bytes(con: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse file's size after its last rewrite (or as first recorded); None if none is recorded."""
    row = con.execute(f"select bytes_after from {schema.WAREHOUSE_FILE} order by recorded_at desc limit 1").fetchone()
    return None if row is None else row[0]


def compact_when_grown(path: str | Path, growth: float, last_bytes: int | None,
                       **connect_options) -> tuple[int, int] | None:
    """Rewrite the warehouse file (:func:`compact`) once it has grown by more than ``growth`` (a share) since
    ``last_bytes`` (:func:`last_file_bytes`, read before the last connection closed); with none recorded, record
    its size to grow from. Returns the bytes before and after a rewrite, else None; ``growth`` 0 never rewrites.
    ``connect_options``: DuckDB's memory limit and threads, for the connection that records the size.

    The file's growth, not DuckDB's count of free blocks, decides: rows deleted from a block leave it in use,
    partly empty (a year of weekly runs at 6,000 series grew the file by half with under 5% of its blocks free).
    """
    if growth <= 0:
        return None
    path = Path(path)
    size = path.stat().st_size  # call it after the connection closed: its checkpoint is in the file
    if last_bytes is not None and size <= (1 + growth) * last_bytes:
        return None
    done = compact(path) if last_bytes is not None else None
    if last_bytes is None or done is not None:  # the first size, or a rewrite: recorded
        with open_warehouse(path, **connect_options) as con:
            con.execute(f"insert into {schema.WAREHOUSE_FILE} values (current_timestamp, ?, ?)",
                        [done[0] if done else None, done[1] if done else size])
    return done
