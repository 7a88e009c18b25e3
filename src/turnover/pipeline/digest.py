"""Reading one run's digest from the warehouse: totals, the two lists (par moves by value, seasonal swings),
flags, and the charted series' history, forecast and par levels (``turnover.reporting.digest.RunDigest``)."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from turnover import schema
from turnover.io.outputs import previous_run, read_run_table, read_summary
from turnover.io.tracking import read_scores
from turnover.reporting.digest import FLAG_COLUMNS, PAR_COLUMNS, RunDigest, chart_keys
from turnover.reporting.movers import par_moves, seasonal_swings
from turnover.reporting.tracking import ACCURACY_INPUTS, accuracy

HISTORY_PERIODS = 104  # periods of history drawn per charted series


def read_digest(con: duckdb.DuckDBPyConnection, run_id: str, tables: Mapping[str, pd.DataFrame] | None = None, *,
                seasonal_strength: float) -> RunDigest:
    """The digest of ``run_id`` (after its par levels are set).

    Args:
        tables: the run's tables read already, by name (``schema.PAR_LEVELS``, ``schema.LOTS``,
            ``schema.QUARANTINE``, ``schema.SHORTAGE_FLAGS``), read from them rather than again.
        seasonal_strength: the least ``seasonality_strength`` the seasonal list counts
            (``forecast.seasonal_strength_threshold``).
    """
    tables = tables or {}
    run = con.execute(f"select as_of, period, outputs from {schema.RUNS} where run_id = ?", [run_id]).fetchall()
    if not run:
        raise ValueError(f"no run {run_id!r} in the warehouse")
    as_of, period, written = run[0]
    previous = previous_run(con, period, as_of)
    pars = _run_table(con, run_id, schema.PAR_LEVELS, tables)
    before = (read_run_table(con, schema.PAR_LEVELS, previous[0], ["location_id", "drug_id", "par_level_units"])
              if previous else None)
    movers = par_moves(pars, before)
    protection = read_run_table(con, schema.PROTECTION_DEMAND, run_id,
                                ["location_id", "drug_id", "forecast_next_4_units", "actual_last_4_units"])
    seasonal = seasonal_swings(pars, protection, seasonal_strength)
    flags = read_flags(con, run_id, pars, tables)
    keys = chart_keys(movers, seasonal, flags).keys()  # only the series the report charts
    # The earlier forecasts this run scored (a chain's run rescores millions: only what accuracy reads).
    scores = read_scores(con, scored_by=run_id, columns=["model", *ACCURACY_INPUTS])
    return RunDigest(
        run_id=run_id, as_of=as_of, period=period, totals=read_summary(con, run_id), movers=movers,
        seasonal=seasonal, flags=flags, history=_for_keys(con, keys, HISTORY_SQL, [HISTORY_PERIODS]),
        forecast=_for_keys(con, keys, FORECAST_SQL, [run_id]), pars=_keep(pars, keys)[list(PAR_COLUMNS)],
        seasonal_strength=seasonal_strength, outputs=tuple(written or ()), accuracy=accuracy(scores, ["model"]),
        previous_run_id=previous[0] if previous else None, previous_as_of=previous[1] if previous else None,
    )


def _run_table(con: duckdb.DuckDBPyConnection, run_id: str, name: str, tables: Mapping[str, pd.DataFrame],
               ) -> pd.DataFrame:
    """The run's table ``name``: from ``tables`` if read already, else from the warehouse."""
    return tables[name] if name in tables else read_run_table(con, name, run_id)


def read_flags(con: duckdb.DuckDBPyConnection, run_id: str, pars: pd.DataFrame,
               tables: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Recalls, shortages, expiry and drift flags of the run, one row per series and flag (``tables``: its
    quarantine, shortage and lot tables by name, if read already)."""
    tables = tables or {}
    names = pars[["location_id", "drug_id", "drug_name"]]
    rows = []
    for r in _run_table(con, run_id, schema.QUARANTINE, tables).itertuples(index=False):
        rows.append((r.location_id, r.drug_id, "recall",
                     f"lot {r.lot or '(no lot on record)'}: {r.units:g} units quarantined, recall {r.recall_number} "
                     f"({r.classification})"))
    for r in _run_table(con, run_id, schema.SHORTAGE_FLAGS, tables).itertuples(index=False):
        alternatives = f"; alternatives: {r.alternatives}" if r.alternatives else "; no alternative in stock"
        rows.append((r.location_id, r.drug_id, "shortage", f"FDA shortage ({r.shortage_status}){alternatives}"))
    rows += expiry_flags(_run_table(con, run_id, schema.LOTS, tables))
    for r in read_run_table(con, schema.DRIFT_FLAGS, run_id).itertuples(index=False):
        rows.append((r.location_id, r.drug_id, "drift",
                     f"{r.model}: recent MASE {r.recent_mase:.2f} over {r.scored_periods} periods vs backtest "
                     f"{r.backtest_mase:.2f} ({r.mase_ratio:.1f}x)"))
    flags = pd.DataFrame(rows, columns=["location_id", "drug_id", "flag", "detail"])
    flags = flags.merge(names, on=["location_id", "drug_id"], how="left")
    return flags[list(FLAG_COLUMNS)].reset_index(drop=True)


def expiry_flags(lots: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """An expiry flag per series with a lot expired or projected to expire unused, in key order: the units expired,
    and the units and value projected to go unused.

    Each sum is numpy's over the series' lots in their order, missing values as 0: what ``Series.sum`` gives
    for the series' rows (pandas' grouped sums add in another order, and can differ in the last bit).
    """
    at_risk = lots[(lots["projected_waste_units"].fillna(0) > 0) | (lots["status"] == "expired")]
    expired = (at_risk["status"] == "expired").to_numpy()
    units, waste_units, waste_value = (at_risk[c].fillna(0).to_numpy()
                                       for c in ("units", "projected_waste_units", "projected_waste_value"))
    flags = []
    for (location_id, drug_id), at in at_risk.groupby(["location_id", "drug_id"], sort=True).indices.items():
        expired_units, waste, value = units[at[expired[at]]].sum(), waste_units[at].sum(), waste_value[at].sum()
        parts = ([f"{expired_units:g} units expired"] if expired_units else []) + (
            [f"{waste:,.0f} units projected to expire unused (value {value:,.2f})"] if waste else [])
        flags.append((location_id, drug_id, "expiry", "; ".join(parts)))
    return flags


def _keep(frame: pd.DataFrame, keys: list[tuple[str, str]]) -> pd.DataFrame:
    wanted = pd.MultiIndex.from_tuples(keys, names=["location_id", "drug_id"]) if keys else None
    if wanted is None:
        return frame.iloc[0:0].reset_index(drop=True)
    index = pd.MultiIndex.from_frame(frame[["location_id", "drug_id"]])
    return frame[index.isin(wanted)].reset_index(drop=True)


# The last HISTORY_PERIODS periods of demand of the charted series (the demand series as built for the run).
HISTORY_SQL = f"""
select location_id, drug_id, period_start, units as demand_units
from {schema.DEMAND_SERIES} semi join _digest_keys using (location_id, drug_id)
qualify row_number() over (partition by location_id, drug_id order by period_start desc) <= ?
order by 1, 2, 3
"""
# The run's per-period forecast of the charted series.
FORECAST_SQL = f"""
select * exclude (run_id) from {schema.FORECAST} semi join _digest_keys using (location_id, drug_id)
where run_id = ? order by location_id, drug_id, period_start
"""


def _for_keys(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str]], sql: str, args: list) -> pd.DataFrame:
    """``sql`` (which reads ``_digest_keys``) for the series ``keys`` only: the warehouse filters, not pandas."""
    con.register("_digest_keys", pd.DataFrame(keys, columns=["location_id", "drug_id"]).astype(str))
    try:
        return con.execute(sql, args).df()
    finally:
        con.unregister("_digest_keys")
