"""Reading what forecast-vs-actual tracking needs, and keeping its scores (``turnover.tracking``).

The weekly run scores in the warehouse (``sql/scorable_forecasts.sql``, ``sql/score_forecasts.sql``): a
chain's run rescores every complete period of its last 17 runs' forecasts, millions of rows, which never
pass through pandas. Only the MASE scales are computed in Python (``tracking.history_scales``), one per
run x series. ``tracking.score_forecasts`` is the same computation on frames.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.io.warehouse import sql_text, transaction


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


def read_backtest_mase(con: duckdb.DuckDBPyConnection, run_ids: list[str], series: pd.DataFrame | None = None,
                       ) -> pd.DataFrame:
    """The chosen model's mean backtest MASE per run x series (only those of ``series``, ``forecast_run_id,
    location_id, drug_id``, if given)."""
    if series is None:
        series = pd.DataFrame({"forecast_run_id": pd.Series(dtype=object)})
        only = ""
    else:
        only = ("semi join _mase_series m on m.forecast_run_id = b.run_id and m.location_id = b.location_id "
                "and m.drug_id = b.drug_id")
    con.register("_mase_series", series)
    try:
        return con.execute(
            f"""
            select b.run_id as forecast_run_id, b.location_id, b.drug_id, avg(b.mase) as backtest_mase
            from {schema.BACKTEST_SCORES} b {only}
            where b.chosen and b.run_id in (select unnest(?::varchar[]))
            group by all
            """,
            [run_ids],
        ).df()
    finally:
        con.unregister("_mase_series")


def read_scale_requests(con: duckdb.DuckDBPyConnection, run_ids: list[str], as_of: date, period: str) -> pd.DataFrame:
    """The forecast run x series pairs with a period to score: ``forecast_run_id, forecast_as_of, series_index``
    (the series' place in ``staging.series`` order, as in the demand panel)."""
    return con.execute(
        f"select distinct forecast_run_id, forecast_as_of, series_index from ({sql_text('scorable_forecasts')}) "
        "order by 1, 3", {"run_ids": run_ids, "as_of": as_of, "period": period},
    ).df()


def read_period_starts(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """The period starts of the demand series, in order (every series ends on the last)."""
    return con.execute(f"select distinct period_start from {schema.DEMAND_SERIES} order by 1").df()[
        "period_start"].to_numpy(dtype="datetime64[ns]")


def score_forecasts(con: duckdb.DuckDBPyConnection, run_ids: list[str], as_of: date, period: str, through: date,
                    scales: pd.DataFrame, scored_by: str) -> dict[str, int]:
    """Replace the scores of forecast runs ``run_ids`` for periods starting through ``through`` with their periods
    scorable at ``as_of``, each scaled by ``scales`` (``forecast_run_id, series_index, scale``); one transaction
    (later periods scored by a later as-of are kept). Returns the periods scored per forecast run."""
    sql = sql_text("score_forecasts").replace("{scorable}", sql_text("scorable_forecasts"))
    con.register("_score_scales", scales)
    try:
        with transaction(con):
            con.execute(f"delete from {schema.FORECAST_ACCURACY} where forecast_run_id in (select unnest(?::varchar[])) "
                        "and period_start <= ?", [run_ids, through])
            if len(scales):
                con.execute(sql, {"run_ids": run_ids, "as_of": as_of, "period": period,
                                  "step_days": calendar.DAYS_PER_PERIOD[period], "scored_by": scored_by,
                                  "scored_at": datetime.now()})
    finally:
        con.unregister("_score_scales")
    counts = con.execute(f"select forecast_run_id, count(*) from {schema.FORECAST_ACCURACY} where scored_by_run_id = ? "
                         "and forecast_run_id in (select unnest(?::varchar[])) and period_start <= ? group by 1",
                         [scored_by, run_ids, through]).fetchall()
    return dict(counts)


def read_recent_scores(con: duckdb.DuckDBPyConnection, since: date, window: int) -> pd.DataFrame:
    """What drift flagging reads (``tracking.drift_flags``), in the warehouse: of the scores of periods from
    ``since``, each series' latest ``window`` periods, each scored against the forecast made closest before it;
    oldest first. The same rows ``tracking.latest_forecast_per_period`` and the window keep from all of them,
    with the columns drift flagging reads."""
    return con.execute(
        f"""
        with latest as (
            select forecast_run_id, location_id, drug_id, period_start, horizon_periods, model, scaled_abs_error
            from {schema.FORECAST_ACCURACY}
            where period_start >= $since
            qualify row_number() over (partition by location_id, drug_id, period_start
                                       order by horizon_periods, forecast_run_id) = 1
        )
        select * from latest
        qualify row_number() over (partition by location_id, drug_id order by period_start desc) <= $window
        order by location_id, drug_id, period_start
        """, {"since": since, "window": window}).df()


def read_scores(con: duckdb.DuckDBPyConnection, since: date | None = None, scored_by: str | None = None,
                columns: list[str] | None = None) -> pd.DataFrame:
    """Kept scores: only periods from ``since``, or only those run ``scored_by`` scored, if given (only
    ``columns``, names from code, if given; in the same order)."""
    where, args = [], []
    if since is not None:
        where, args = [*where, "period_start >= ?"], [*args, since]
    if scored_by is not None:
        where, args = [*where, "scored_by_run_id = ?"], [*args, scored_by]
    select = ", ".join(columns) if columns else "* exclude (scored_by_run_id, scored_at)"
    return con.execute(
        f"select {select} from {schema.FORECAST_ACCURACY} "
        f"{'where ' + ' and '.join(where) if where else ''} "
        "order by forecast_run_id, location_id, drug_id, period_start", args).df()
