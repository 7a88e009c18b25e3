"""Reading what forecast-vs-actual tracking needs, and keeping its scores (``turnover.reporting.tracking``).

The weekly run scores in the warehouse (``sql/scorable_forecasts.sql``, ``sql/score_forecasts.sql``): each
forecast period once, when it completes (and again when a late or re-sent export changes what was dispensed
in it), which never passes through pandas. Only the MASE scales are computed in Python (``tracking.history_scales``), one per
run x series: the scorable periods are found once (:func:`scorable`), the scales asked for from them, and
the scores inserted from them (:func:`score_forecasts`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import duckdb
import pandas as pd

from turnover import calendar, schema
from turnover.io.warehouse import sql_text, transaction


def read_completed_runs(con: duckdb.DuckDBPyConnection, period: str) -> pd.DataFrame:
    """Completed runs of ``period`` buckets: ``run_id, as_of, finished_at`` (dispensing files loaded after a run
    finished may bring rows to periods scored already: :func:`scorable`)."""
    return con.execute(
        f"select run_id, as_of, finished_at from {schema.RUNS} where status = 'completed' and period = ? order by as_of",
        [period]).df()


def read_backtest_mase(con: duckdb.DuckDBPyConnection, series: pd.DataFrame) -> pd.DataFrame:
    """The chosen model's mean backtest MASE of each forecast run x series of ``series`` (``forecast_run_id,
    location_id, drug_id``): ``forecast_run_id, location_id, drug_id, backtest_mase``. From the forecast run's
    own backtest where it chose the model; else (a weekly run that refitted a stored choice) from the run whose
    backtest chose it (``marts.model_selection.selected_run_id``)."""
    con.register("_mase_series", series[["forecast_run_id", "location_id", "drug_id"]].drop_duplicates())
    try:
        return con.execute(
            f"""
            with sources as (
                select m.forecast_run_id, m.location_id, m.drug_id, s.selected_run_id
                from _mase_series m
                left join {schema.MODEL_SELECTION} s
                    on s.run_id = m.forecast_run_id and s.location_id = m.location_id and s.drug_id = m.drug_id
            ),

            chosen as (  -- of the runs asked for and the selections they reused only
                select run_id, location_id, drug_id, avg(mase) as backtest_mase
                from {schema.BACKTEST_SCORES}
                where chosen and (run_id in (select forecast_run_id from sources)
                                  or run_id in (select selected_run_id from sources))
                group by all
            ),

            final as (
                select x.forecast_run_id, x.location_id, x.drug_id,
                       coalesce(own.backtest_mase, selected.backtest_mase) as backtest_mase
                from sources x
                left join chosen own
                    on own.run_id = x.forecast_run_id and own.location_id = x.location_id and own.drug_id = x.drug_id
                left join chosen selected
                    on selected.run_id = x.selected_run_id and selected.location_id = x.location_id
                    and selected.drug_id = x.drug_id
            )

            select * from final where backtest_mase is not null
            """
        ).df()
    finally:
        con.unregister("_mase_series")


#: The temporary table of the scorable forecast periods (``sql/score_forecasts.sql`` reads it by this name).
SCORABLE = "_scorable_forecasts"


@contextmanager
def scorable(con: duckdb.DuckDBPyConnection, run_ids: list[str], as_of: date, period: str,
             late_since: datetime | None = None) -> Iterator[pd.DataFrame]:
    """The forecast periods of runs ``run_ids`` scorable at ``as_of`` (``sql/scorable_forecasts.sql``): not
    scored yet, or scored but brought rows by a dispensing file loaded after ``late_since`` (default: every
    file); built once, for :func:`score_forecasts` to insert, while the block runs. Yields the forecast run x series pairs
    to scale: ``forecast_run_id, series_index, later`` (the series' place in ``staging.series`` order, as in
    the demand panel; the periods of the demand series after the run's as-of)."""
    con.execute(f"create or replace temp table {SCORABLE} as {sql_text('scorable_forecasts')}",
                {"run_ids": run_ids, "as_of": as_of, "period": period, "late_since": late_since or datetime.min})
    try:
        yield con.execute(f"select distinct forecast_run_id, series_index, later from {SCORABLE} order by 1, 2").df()
    finally:
        con.execute(f"drop table if exists {SCORABLE}")


def score_forecasts(con: duckdb.DuckDBPyConnection, run_ids: list[str], period: str, through: date,
                    scales: pd.DataFrame, scored_by: str) -> dict[str, int]:
    """Score the periods found scorable (inside :func:`scorable`), each scaled by ``scales`` (``forecast_run_id,
    series_index, scale``), replacing the scores of those scored before (a late export); one transaction. Returns
    the periods run ``scored_by`` has scored per forecast run of ``run_ids`` (of periods starting through
    ``through``)."""
    con.register("_score_scales", scales)
    try:
        with transaction(con):
            con.execute(f"delete from {schema.FORECAST_ACCURACY} a using {SCORABLE} s "
                        "where a.forecast_run_id = s.forecast_run_id and a.location_id = s.location_id "
                        "and a.drug_id = s.drug_id and a.period_start = s.period_start")
            if len(scales):
                con.execute(sql_text("score_forecasts"), {
                    "period": period, "step_days": calendar.DAYS_PER_PERIOD[period], "scored_by": scored_by,
                    "scored_at": datetime.now()})
    finally:
        con.unregister("_score_scales")
    # What this run scored (a retried attempt counts what an earlier attempt of the run kept: the record is the same).
    counts = con.execute(f"select forecast_run_id, count(*) from {schema.FORECAST_ACCURACY} where scored_by_run_id = ? "
                         "and forecast_run_id in (select unnest(?::varchar[])) and period_start <= ? group by 1",
                         [scored_by, run_ids, through]).fetchall()
    return dict(counts)


def read_recent_scores(con: duckdb.DuckDBPyConnection, since: date, window: int, through: date) -> pd.DataFrame:
    """What drift flagging reads (``tracking.flag``), in the warehouse: of the scores of periods from ``since``
    through ``through`` (a period start: the run's last complete period), each series' latest ``window``
    periods, each scored against the forecast made closest before it; oldest first. The rows
    ``tracking.recent_rows`` keeps of them, with the columns drift flagging reads. Scores of later periods (kept
    by a run with a later as-of) are not read: a backdated run flags only on what was dispensed by its as-of."""
    return con.execute(
        f"""
        with latest as (
            select forecast_run_id, location_id, drug_id, period_start, horizon_periods, model, scaled_abs_error
            from {schema.FORECAST_ACCURACY}
            where period_start between $since and $through
            qualify row_number() over (partition by location_id, drug_id, period_start
                                       order by horizon_periods, forecast_run_id) = 1
        )
        select * from latest
        qualify row_number() over (partition by location_id, drug_id order by period_start desc) <= $window
        order by location_id, drug_id, period_start
        """, {"since": since, "window": window, "through": through}).df()


def read_scores(con: duckdb.DuckDBPyConnection, scored_by: str | None = None,
                columns: list[str] | None = None) -> pd.DataFrame:
    """Kept scores: only those run ``scored_by`` scored, if given (only ``columns``, names from code, if given;
    in the same order)."""
    where, args = ("where scored_by_run_id = ?", [scored_by]) if scored_by is not None else ("", [])
    select = ", ".join(columns) if columns else "* exclude (scored_by_run_id, scored_at)"
    return con.execute(
        f"select {select} from {schema.FORECAST_ACCURACY} {where} "
        "order by forecast_run_id, location_id, drug_id, period_start", args).df()
