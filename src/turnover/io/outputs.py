"""Run records and run outputs in the warehouse (the files themselves: ``turnover.io.files``).

Warehouse writes replace one run's partition inside a transaction, so a retried step leaves one copy.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from turnover import schema
from turnover.io.warehouse import (
    held_elsewhere,
    held_here,
    open_warehouse,
    quote_identifier,
    replace_partition,
    replace_partitions,
    transaction,
)


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, as_of: date, period: str, settings_json: str) -> None:
    """Record a run as started (a re-run of the same id starts it afresh)."""
    with transaction(con):
        con.execute(f"delete from {schema.RUNS} where run_id = ?", [run_id])
        con.execute(
            f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status, settings) values (?, ?, ?, ?, 'running', ?)",
            [run_id, as_of, period, datetime.now(), settings_json],
        )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, n_series: int, outputs: list[str]) -> None:
    """Record a run as completed with its outputs."""
    con.execute(
        f"update {schema.RUNS} set status = 'completed', finished_at = ?, n_series = ?, outputs = ? where run_id = ?",
        [datetime.now(), n_series, outputs, run_id],
    )


def fail_run(con: duckdb.DuckDBPyConnection, run_id: str, error: str) -> None:
    """Record a started run as failed, with the first line of the error (no-op if it never started)."""
    con.execute(
        f"update {schema.RUNS} set status = 'failed', finished_at = ?, outputs = [?] where run_id = ? and status = 'running'",
        [datetime.now(), f"error: {error.splitlines()[0] if error else ''}", run_id],
    )


def mark_interrupted(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Record every other run still marked running as interrupted (its process ended without finishing:
    killed, stopped, or the machine went down). Call only when no other run can be alive (the caller
    holds the warehouse, ``warehouse.hold``). Returns how many."""
    rows = con.execute(
        f"update {schema.RUNS} set status = 'interrupted', outputs = [?] where status = 'running' and run_id <> ? "
        "returning run_id",
        [INTERRUPTED_NOTE, run_id],
    ).fetchall()
    return len(rows)


INTERRUPTED_NOTE = "interrupted: the process ended before the run finished (killed or stopped); its files were not replaced"


def record_summary(con: duckdb.DuckDBPyConnection, run_id: str, summary: dict) -> None:
    """Keep the run's totals (turns, flags, money at risk) on its record."""
    con.execute(f"update {schema.RUNS} set summary = ? where run_id = ?", [json.dumps(summary), run_id])


def read_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """The run's totals, with its forecast-vs-actual figures when it scored any."""
    rows = con.execute(f"select summary, scored from {schema.RUNS} where run_id = ?", [run_id]).fetchall()
    if not rows:
        return {}
    row = rows[0]
    summary = json.loads(row[0]) if row[0] else {}
    if row[1]:
        scored = json.loads(row[1])
        summary |= {"forecast_periods_scored": scored.get("periods", 0), "drift_flags": scored.get("drift_flags", 0)}
    return summary


def append_recall_audit(con: duckdb.DuckDBPyConnection, run_id: str, as_of: date, quarantine: pd.DataFrame) -> int:
    """Append this run's recall matches to the audit table; a retried run adds nothing twice.

    The audit is never updated or deleted: each row says when a lot was flagged, by which run.
    """
    if quarantine.empty:
        return 0
    rows = quarantine.assign(flagged_at=datetime.now(), run_id=run_id, as_of=as_of)
    con.register("_audit_rows", rows)
    try:
        with transaction(con):
            before = con.execute(f"select count(*) from {schema.RECALL_AUDIT}").fetchone()[0]
            con.execute(
                f"insert into {schema.RECALL_AUDIT} by name "
                "select flagged_at, run_id, as_of, location_id, drug_id, lot, units, recall_number, classification, "
                "status, reason_for_recall, matched_by from _audit_rows n "
                f"where not exists (select 1 from {schema.RECALL_AUDIT} a where a.run_id = n.run_id "
                "and a.location_id = n.location_id and a.drug_id = n.drug_id "
                "and a.lot is not distinct from n.lot and a.recall_number = n.recall_number)"
            )
            added = con.execute(f"select count(*) from {schema.RECALL_AUDIT}").fetchone()[0] - before
    finally:
        con.unregister("_audit_rows")
    return added


RUN_RECORD_FIELDS = ("package_version", "parameters", "inputs", "rows_read", "rows_loaded", "rows_rejected",
                     "step_seconds", "models", "scored")


def record_run(con: duckdb.DuckDBPyConnection, run_id: str, **fields: object) -> None:
    """Keep what the run saw and did on its record (``RUN_RECORD_FIELDS``; dicts and lists as JSON)."""
    unknown = set(fields) - set(RUN_RECORD_FIELDS)
    if unknown:
        raise ValueError(f"not a run record field: {sorted(unknown)}")
    for name, value in fields.items():  # names are checked against the constant above
        value = json.dumps(value, default=str) if isinstance(value, dict | list) else value
        con.execute(f"update {schema.RUNS} set {name} = ? where run_id = ?", [value, run_id])


def find_run(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> tuple[str, date, str, str]:
    """``(run_id, as_of, period, settings JSON)`` of ``run_id`` (an id, or its first characters when they
    start no other id), else of the latest completed run (notebooks).

    Raises:
        LookupError: no such run (or no completed run), or ``run_id`` starts several ids.
    """
    where, args = ("starts_with(run_id, ?)", [run_id]) if run_id else ("status = 'completed'", [])
    rows = con.execute(f"select run_id, as_of, period, settings from {schema.RUNS} where {where} "
                       "order by run_id = ? desc, as_of desc, finished_at desc limit 2", [*args, run_id]).fetchall()
    if not rows:
        raise LookupError(f"no run {run_id!r} in the warehouse" if run_id else "no completed run in the warehouse")
    if run_id and len(rows) > 1 and rows[0][0] != run_id:
        raise LookupError(f"{run_id!r} starts several run ids ({rows[0][0]}, {rows[1][0]}, ...): give more characters")
    return rows[0]


def previous_run(con: duckdb.DuckDBPyConnection, period: str, as_of: date) -> tuple[str, date] | None:
    """``(run_id, as_of)`` of the latest completed ``period`` run dated before ``as_of``: the run a run's
    changes are told against (a re-run of the same date never compares with itself). None if there is none."""
    rows = con.execute(
        f"select run_id, as_of from {schema.RUNS} where status = 'completed' and period = ? and as_of < ? "
        "order by as_of desc, started_at desc limit 1", [period, as_of]).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def list_runs(warehouse_path: Path, limit: int = 20) -> pd.DataFrame:
    """The latest runs recorded in the warehouse, newest first (read-only). A run marked running while no
    process holds the warehouse was interrupted, and is shown so. Light to import: ``turnover runs`` answers
    without loading the forecasting stack or Prefect."""
    with open_warehouse(warehouse_path, read_only=True) as con:
        runs = read_runs(con, limit)
    if not (held_here(warehouse_path) or held_elsewhere(warehouse_path)):
        runs.loc[runs["status"] == "running", "status"] = "interrupted"
    return runs


def read_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    """The latest runs, newest first, with what each read and scored."""
    return con.execute(
        f"""
        select r.run_id, r.as_of, r.period, r.status, r.started_at, r.finished_at, r.n_series, r.package_version,
               r.rows_read, r.rows_loaded, r.rows_rejected, r.step_seconds, r.models, r.inputs, r.parameters,
               r.scored, coalesce(r.outputs, []) as outputs, r.summary  -- no outputs while running
        from {schema.RUNS} r
        order by r.started_at desc limit ?
        """, [limit]).df()


def write_run_table(con: duckdb.DuckDBPyConnection, table: str, run_id: str, frame: pd.DataFrame) -> int:
    """Replace ``run_id``'s rows of ``table`` (a ``schema`` constant) with ``frame``; returns rows written."""
    return replace_partition(con, table, "run_id", run_id, frame)


def write_run_tables(con: duckdb.DuckDBPyConnection, run_id: str, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """:func:`write_run_table` for several tables in one transaction (a step's results land together)."""
    return replace_partitions(con, "run_id", run_id, frames)


def read_run_table(con: duckdb.DuckDBPyConnection, table: str, run_id: str, columns: list[str] | None = None,
                   ) -> pd.DataFrame:
    """``run_id``'s rows of ``table``, in id order (only ``columns``, names from code, if given)."""
    within = {schema.FORECAST: ", period_start", schema.PAR_CALENDAR: ", week_start", schema.LOTS: ", expiry_date, lot",
              schema.QUARANTINE: ", lot, recall_number"}
    # A transfer has two locations: largest value saved first, as turnover.inventory.transfers lists them.
    order = ("value_saved desc nulls last, units desc, drug_id, from_location_id, lot, to_location_id"
             if table == schema.TRANSFERS else "location_id, drug_id" + within.get(table, ""))
    select = ", ".join(quote_identifier(c) for c in columns) if columns else "* exclude (run_id)"
    return con.execute(f"select {select} from {table} where run_id = ? order by {order}", [run_id]).df()


def read_forecast_csv_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """``run_id``'s forecast with each series' drug name (from its par levels; missing if none) and demand class
    (a series without one is left out), in id and period order: ``schema.FORECAST_CSV_COLUMNS``."""
    columns = {"drug_name": "p.drug_name", "demand_class": "c.demand_class"}
    select = ", ".join(columns.get(c, f"f.{quote_identifier(c)}") for c in schema.FORECAST_CSV_COLUMNS)
    return con.execute(f"""
        select {select}
        from {schema.FORECAST} f
        join {schema.DEMAND_CLASS} c using (run_id, location_id, drug_id)
        left join {schema.PAR_LEVELS} p using (run_id, location_id, drug_id)
        where f.run_id = ?
        order by f.location_id, f.drug_id, f.period_start
        """, [run_id]).df()


def settings_json(settings) -> str:
    """Settings as JSON for the run record."""
    return json.dumps(settings.model_dump(mode="json"), sort_keys=True)
