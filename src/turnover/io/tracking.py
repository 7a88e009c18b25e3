"""Reading what forecast-vs-actual tracking needs, and keeping its scores (``turnover.tracking``)."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd

from turnover import schema
from turnover.io.warehouse import transaction


def read_completed_runs(con: duckdb.DuckDBPyConnection, period: str) -> pd.DataFrame:
    """Completed runs of ``period`` buckets: ``run_id, as_of``."""
    return con.execute(
        f"select run_id, as_of from {schema.RUNS} where status = 'completed' and period = ? order by as_of", [period]
    ).df()


def read_forecasts(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """The per-period forecasts of ``run_ids``, with each run's as-of and each series' demand class."""
    return con.execute(
        f"""
        select f.run_id as forecast_run_id, r.as_of as forecast_as_of, f.location_id, f.drug_id, f.period_start,
               f.mean, {", ".join(f"f.{q}" for q in schema.QUANTILE_COLUMNS)}, f.model, c.demand_class
        from {schema.FORECAST} f
        join {schema.RUNS} r using (run_id)
        left join {schema.DEMAND_CLASS} c using (run_id, location_id, drug_id)
        where f.run_id in (select unnest(?::varchar[]))
        order by 1, 3, 4, 5
        """,
        [run_ids],
    ).df()


def read_actuals(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The demand series as built for this run (complete buckets through its as-of)."""
    return con.execute(
        f"select location_id, drug_id, period_start, units from {schema.DEMAND_SERIES} order by 1, 2, 3"
    ).df()


def read_backtest_mase(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """The chosen model's mean backtest MASE per run x series."""
    return con.execute(
        f"""
        select run_id as forecast_run_id, location_id, drug_id, avg(mase) as backtest_mase
        from {schema.BACKTEST_SCORES}
        where chosen and run_id in (select unnest(?::varchar[]))
        group by all
        """,
        [run_ids],
    ).df()


def replace_scores(con: duckdb.DuckDBPyConnection, run_ids: list[str], through: date, scores: pd.DataFrame,
                   scored_by: str) -> int:
    """Replace the scores of forecast runs ``run_ids`` for periods starting through ``through`` with ``scores``
    (one transaction; later periods scored by a later as-of are kept); returns rows written."""
    rows = scores.assign(scored_by_run_id=scored_by, scored_at=datetime.now())
    con.register("_score_rows", rows)
    try:
        with transaction(con):
            con.execute(f"delete from {schema.FORECAST_ACCURACY} where forecast_run_id in (select unnest(?::varchar[])) "
                        "and period_start <= ?", [run_ids, through])
            if len(rows):
                con.execute(f"insert into {schema.FORECAST_ACCURACY} by name select * from _score_rows")
    finally:
        con.unregister("_score_rows")
    return len(rows)


def read_scores(con: duckdb.DuckDBPyConnection, since: date | None = None, scored_by: str | None = None) -> pd.DataFrame:
    """Kept scores: only periods from ``since``, or only those run ``scored_by`` scored, if given."""
    where, args = [], []
    if since is not None:
        where, args = [*where, "period_start >= ?"], [*args, since]
    if scored_by is not None:
        where, args = [*where, "scored_by_run_id = ?"], [*args, scored_by]
    return con.execute(
        f"select * exclude (scored_by_run_id, scored_at) from {schema.FORECAST_ACCURACY} "
        f"{'where ' + ' and '.join(where) if where else ''} "
        "order by forecast_run_id, location_id, drug_id, period_start", args).df()
