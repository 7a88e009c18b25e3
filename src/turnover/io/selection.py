"""The stored model selection: what a weekly run between full reselections reuses.

Every run writes, per series, the model it used and the full selection that chose it
(``marts.model_selection``). A later run reads the latest completed run's rows and, while that
selection is recent enough, refits the same models instead of backtesting again, with the
recalibration maps the selecting run fitted (``marts.calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from turnover import schema


@dataclass(frozen=True)
class StoredSelection:
    """The latest completed run's choices: ``rows`` (location_id, drug_id, model, basis, by_backtest) from the
    full selection of ``selected_run_id`` on ``selected_as_of``, and that run's recalibration maps."""

    selected_run_id: str
    selected_as_of: date
    rows: pd.DataFrame
    near_levels: dict[str, dict[float, float]]
    all_levels: dict[str, dict[float, float]]


def read_latest_selection(con: duckdb.DuckDBPyConnection, period: str, before: date) -> StoredSelection | None:
    """The selection the latest completed ``period`` run made or reused, as of before ``before``; None if none."""
    latest = con.execute(
        f"""
        select r.run_id from {schema.RUNS} r
        where r.status = 'completed' and r.period = ? and r.as_of < ?
          and exists (select 1 from {schema.MODEL_SELECTION} s where s.run_id = r.run_id)
          and exists (select 1 from {schema.DEMAND_CLASS} c where c.run_id = r.run_id)  -- not thinned (retention)
        order by r.as_of desc, r.finished_at desc limit 1
        """,
        [period, before],
    ).fetchall()
    if not latest:
        return None
    rows = con.execute(
        f"select location_id, drug_id, model, basis, by_backtest, selected_run_id, selected_as_of "
        f"from {schema.MODEL_SELECTION} where run_id = ? order by location_id, drug_id", [latest[0][0]],
    ).df()
    if rows.empty:
        return None
    selected_run_id = str(rows["selected_run_id"].iloc[0])
    maps = con.execute(
        f"select scope, model, target_level, calibrated_level from {schema.CALIBRATION} where run_id = ?",
        [selected_run_id],
    ).df()
    return StoredSelection(selected_run_id, pd.Timestamp(rows["selected_as_of"].iloc[0]).date(), rows,
                           _levels(maps, "near"), _levels(maps, "all"))


def _levels(maps: pd.DataFrame, scope: str) -> dict[str, dict[float, float]]:
    """Per model, the calibrated level of each target level (``forecasting.calibration.Calibration``'s maps)."""
    levels: dict[str, dict[float, float]] = {}
    for row in maps[maps["scope"] == scope].itertuples(index=False):
        levels.setdefault(row.model, {})[round(float(row.target_level), 6)] = float(row.calibrated_level)
    return levels
