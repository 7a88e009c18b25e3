"""Applying the retention policy (``turnover.retention``) to the warehouse, in one transaction."""

from __future__ import annotations

from datetime import date

import duckdb

from turnover import calendar, retention, schema
from turnover.io.warehouse import transaction


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
    their unchosen backtest scores, and compact old and superseded scores (``turnover.retention``); returns the
    runs thinned and the rows deleted, by table (tables with none left out)."""
    keep = protected_runs(con, period)
    runs = run_detail(con)
    thin = retention.runs_to_thin(runs[runs["has_detail"]], as_of, detail_days, keep)
    cutoff = retention.scores_cutoff(as_of, scores_days, period, drift_window_periods)  # type: ignore[arg-type]
    superseded = retention.superseded_cutoff(as_of, detail_days)
    deleted: dict[str, int] = {"runs_thinned": len(thin)}
    with transaction(con):
        if thin:
            for table in retention.DETAIL_TABLES:
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
