"""External weekly signals (CDC FluView ILINet exports) read into ``ref.signals``.

FluView exports carry a one-line title above the header and MMWR weeks (Sunday to Saturday; week 1
is the week holding January 4). Each MMWR week is stored under the ISO week (Monday start) that
shares six of its seven days: the one starting the day after the MMWR week's Sunday. ``X`` means
not reported and is dropped.

A week is used only as published (``turnover.forecasting.signals``): ``publication_lag_days`` after the Saturday it
ends (FluView: the Friday after, 6 days), so a run or a replay week never reads a week not yet out.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from turnover import schema
from turnover.io.ingest import IngestError
from turnover.io.warehouse import replace_partition

log = logging.getLogger(__name__)


def mmwr_week_start(year: int, week: int) -> date:
    """The Sunday that starts MMWR week ``week`` of ``year``."""
    jan4 = date(year, 1, 4)
    week1 = jan4 - timedelta(days=(jan4.weekday() + 1) % 7)
    return week1 + timedelta(weeks=week - 1)


def read_fluview(path: str | Path, value_column: str = "% WEIGHTED ILI") -> pd.Series:
    """Weekly values of ``value_column`` indexed by ISO week start (Monday), from a FluView CSV."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: file not found")
    with open(path, encoding="utf-8-sig") as handle:
        first = handle.readline()
    skip = 0 if first.startswith("REGION TYPE") else 1  # the title line above the header
    frame = pd.read_csv(path, skiprows=skip, dtype=str)
    missing = [c for c in ("YEAR", "WEEK", value_column) if c not in frame.columns]
    if missing:
        raise IngestError(f"{path}: missing required column(s) {missing}")
    if "REGION TYPE" in frame.columns and frame["REGION TYPE"].nunique() > 1:
        raise IngestError(f"{path}: holds several region types; export one region")
    values = pd.to_numeric(frame[value_column], errors="coerce")
    keep = values.notna()
    starts = [mmwr_week_start(int(y), int(w)) + timedelta(days=1) for y, w in zip(frame["YEAR"][keep], frame["WEEK"][keep], strict=True)]
    return pd.Series(values[keep].to_numpy(), index=pd.DatetimeIndex(starts), name=value_column).sort_index()


def load_signal(con: duckdb.DuckDBPyConnection, name: str, path: str | Path, value_column: str) -> int:
    """Replace signal ``name`` in ``ref.signals`` with the file's weekly values; returns rows."""
    series = read_fluview(path, value_column)
    frame = pd.DataFrame({"period_start": series.index.date, "value": series.to_numpy()})
    rows = replace_partition(con, schema.SIGNALS, "name", name, frame)
    log.info("%s: loaded %d weeks of signal %s", path, rows, name)
    return rows


def read_signals(con: duckdb.DuckDBPyConnection) -> dict[str, pd.Series]:
    """Every loaded signal as a weekly series indexed by ISO week start."""
    frame = con.execute(f"select name, period_start, value from {schema.SIGNALS} order by name, period_start").df()
    return {name: rows.set_index(pd.DatetimeIndex(rows["period_start"]))["value"] for name, rows in frame.groupby("name")}


def read_history_end(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last day of the weekly demand series as built (``staging.demand_series``: complete weeks up to the
    run's as-of), or None when it holds nothing."""
    last_start = con.execute(f"select max(period_start) from {schema.DEMAND_SERIES}").fetchone()[0]
    return None if last_start is None else last_start + timedelta(days=6)
