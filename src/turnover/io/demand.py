"""Building and reading the demand series (SQL in ``sql/demand_series.sql`` and ``sql/series.sql``)."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from turnover import schema
from turnover.calendar import last_history_start
from turnover.io.warehouse import sql_text
from turnover.panel import DemandPanel
from turnover.settings import Period, PolicySettings

STEP_SQL = {"week": "interval 7 day", "month": "interval 1 month"}


def build_demand_series(con: duckdb.DuckDBPyConnection, as_of: date, period: Period, policy: PolicySettings) -> int:
    """Rebuild ``staging.demand_series`` and ``staging.series`` for ``as_of``; returns the series count."""
    con.execute(
        sql_text("demand_series").replace("$step", STEP_SQL[period]),
        {"as_of": as_of, "period": period, "last_history_start": last_history_start(as_of, period)},
    )
    con.execute(
        sql_text("series"),
        {
            "as_of": as_of,
            "default_lead_time_days": policy.default_lead_time_days,
            "default_pack_size_units": policy.default_pack_size_units,
            "default_criticality": policy.default_criticality,
            "usage_window_days": policy.usage_window_days,
        },
    )
    return con.execute(f"select count(*) from {schema.SERIES}").fetchone()[0]


def read_demand_panel(con: duckdb.DuckDBPyConnection) -> DemandPanel:
    """The demand series in ``staging.series`` order (a series with no history gets an empty slice)."""
    sized = con.execute(
        f"select s.location_id, s.drug_id, count(d.period_start) as n from {schema.SERIES} s "
        f"left join {schema.DEMAND_SERIES} d using (location_id, drug_id) group by all order by 1, 2"
    ).df()
    # A fully censored period has units = null: it reaches the models as NaN, to be filled in.
    # Ordered by each series' place in staging.series, a number: sorting on the ids was three times slower.
    units = con.execute(
        f"with keys as (select location_id, drug_id, row_number() over (order by location_id, drug_id) as i "
        f"from {schema.SERIES}) "
        f"select coalesce(d.units, 'nan'::double) as units from {schema.DEMAND_SERIES} d "
        "join keys k using (location_id, drug_id) order by k.i, d.period_start"
    ).fetchnumpy()["units"]
    offsets = np.concatenate([[0], np.cumsum(sized["n"].to_numpy(dtype=np.int64))])
    return DemandPanel(sized[["location_id", "drug_id"]], offsets, np.asarray(units, dtype=float))


def read_series(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``staging.series``: one row per location x drug with the policy inputs."""
    return con.execute(f"select * from {schema.SERIES} order by location_id, drug_id").df()


def replace_series(con: duckdb.DuckDBPyConnection, series: pd.DataFrame) -> None:
    """Replace ``staging.series`` with ``series`` (the SQL rows with the planning columns added)."""
    con.register("_series_rows", series)
    try:
        con.execute(f"create or replace table {schema.SERIES} as select * from _series_rows")
    finally:
        con.unregister("_series_rows")


def read_daily_demand(con: duckdb.DuckDBPyConnection, keys: pd.DataFrame, first_day: date, last_day: date, *,
                      net: bool = False) -> np.ndarray:
    """Units dispensed per day (returns netted, never below 0), one row per ``keys`` row, one column per
    day from ``first_day`` through ``last_day``; with ``net``, a day of more returns than dispensing stays
    negative (what a usage window sums, as ``staging.series`` does: its positive part is the day's demand)."""
    n_days = (last_day - first_day).days + 1
    units = "sum(quantity)" if net else "greatest(sum(quantity), 0)"
    rows = con.execute(
        f"""
        select location_id, drug_id, cast(dispensed_at as date) - $first as day, {units} as units
        from {schema.DISPENSING}
        where cast(dispensed_at as date) between $first and $last
        group by all
        """,
        {"first": first_day, "last": last_day},
    ).df()
    index = {key: i for i, key in enumerate(zip(keys["location_id"], keys["drug_id"], strict=True))}
    out = np.zeros((len(keys), n_days))
    row = np.array([index.get(k, -1) for k in zip(rows["location_id"], rows["drug_id"], strict=True)], dtype=np.int64)
    known = row >= 0
    out[row[known], rows["day"].to_numpy(dtype=np.int64)[known]] = rows["units"].to_numpy(dtype=float)[known]
    return out
