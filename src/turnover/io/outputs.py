"""Run records, run outputs in the warehouse, and the CSV files purchasing opens.

Warehouse writes replace one run's partition inside a transaction, so a retried step leaves one
copy. CSV files are written to a temporary file in the output folder and renamed over the final
name only when complete (``os.replace`` is atomic on one file system): a failed run leaves the
previous file or none, never half of one. A run's files are all staged before the first is renamed,
so a run that fails or is killed while writing replaces none of them. A process killed while staging
leaves hidden ``.<name>.turnover-*.tmp`` files (nothing can remove them at a SIGKILL); the next
export in that folder removes them.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd

from turnover import schema
from turnover.io.warehouse import replace_partition, replace_partitions, transaction

log = logging.getLogger(__name__)
TEMP_MARK = ".turnover-"  # in every staged file's name: what the sweep of leftovers may remove

# Spreadsheets run a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
    """``(run_id, as_of, period, settings JSON)`` of ``run_id``, else of the latest completed run (notebooks).

    Raises:
        LookupError: no such run (or no completed run).
    """
    where, args = ("run_id = ?", [run_id]) if run_id else ("status = 'completed'", [])
    rows = con.execute(f"select run_id, as_of, period, settings from {schema.RUNS} where {where} "
                       "order by as_of desc, finished_at desc limit 1", args).fetchall()
    if not rows:
        raise LookupError(f"no run {run_id!r} in the warehouse" if run_id else "no completed run in the warehouse")
    return rows[0]


def read_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    """The latest runs, newest first, with what each read and scored."""
    return con.execute(
        f"""
        select r.run_id, r.as_of, r.period, r.status, r.started_at, r.finished_at, r.n_series, r.package_version,
               r.rows_read, r.rows_loaded, r.rows_rejected, r.step_seconds, r.models, r.inputs, r.parameters,
               r.scored, r.outputs, r.summary
        from {schema.RUNS} r
        order by r.started_at desc limit ?
        """, [limit]).df()


def write_run_table(con: duckdb.DuckDBPyConnection, table: str, run_id: str, frame: pd.DataFrame) -> int:
    """Replace ``run_id``'s rows of ``table`` (a ``schema`` constant) with ``frame``; returns rows written."""
    return replace_partition(con, table, "run_id", run_id, frame)


def write_run_tables(con: duckdb.DuckDBPyConnection, run_id: str, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """:func:`write_run_table` for several tables in one transaction (a step's results land together)."""
    return replace_partitions(con, "run_id", run_id, frames)


def read_run_table(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> pd.DataFrame:
    """``run_id``'s rows of ``table``, in id order."""
    within = {schema.FORECAST: ", period_start", schema.PAR_CALENDAR: ", week_start", schema.LOTS: ", expiry_date, lot",
              schema.QUARANTINE: ", lot, recall_number"}
    order = "location_id, drug_id" + within.get(table, "")
    return con.execute(f"select * exclude (run_id) from {table} where run_id = ? order by {order}", [run_id]).df()


class OutputError(RuntimeError):
    """An output file cannot be written; the message names the folder and the reason in one line."""


def _text_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns
            if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype | pd.CategoricalDtype)]


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed with ``'`` so they stay text.

    Only text columns: numbers (a negative order, a return) stay numbers.
    """
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].astype(object).map(
            lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
        )
    return out


class FileWriter(NamedTuple):
    """How :func:`write_files_atomic` writes one file: its encoding and ``write(handle)``."""

    encoding: str
    write: Callable[[Any], object]


def write_csv(frame: pd.DataFrame) -> FileWriter:
    """``frame`` as a spreadsheet-safe CSV: UTF-8 with a byte-order mark (so spreadsheets detect UTF-8),
    one header row, text quoted (ids and NDCs stay text with their leading zeros in tools that honour
    quoting), formulas neutralised, dates ISO."""
    return FileWriter("utf-8-sig", lambda handle: neutralise_formulas(frame).to_csv(
        handle, index=False, quoting=csv.QUOTE_NONNUMERIC, date_format="%Y-%m-%d"))


def write_text(text: str) -> FileWriter:
    """``text`` as UTF-8."""
    return FileWriter("utf-8", lambda handle: handle.write(text))


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as a spreadsheet-safe CSV (:func:`write_csv`) to ``path``, atomically."""
    return write_files_atomic({Path(path): write_csv(frame)})[0]


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_files_atomic({Path(path): write_text(text)})[0]


def write_files_atomic(files: dict[Path, FileWriter]) -> list[Path]:
    """Write every file of ``{path: writer}``: each is staged complete beside its final name, and only when
    all are staged are they renamed over their final names, in order. A failure while staging removes the
    staged files and replaces nothing. Returns the paths.

    Raises:
        OutputError: a file cannot be written (folder and reason named: disk full, read-only, ...).
    """
    paths = [Path(p) for p in files]
    for folder in dict.fromkeys(p.parent for p in paths):
        sweep_leftovers(folder)
    staged: list[Path] = []
    current, renamed = (paths[0] if paths else None), 0
    try:
        for current, writer in zip(paths, files.values(), strict=True):
            staged.append(_stage(current, writer))
            if len(staged) == 1 and len(paths) > 1:
                _test_pause("export")
        for temp, current in zip(staged, paths, strict=True):
            os.replace(temp, current)
            renamed += 1
    except BaseException as exc:
        for temp in staged:
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(current, exc, renamed) from exc
        raise
    return paths


def _stage(path: Path, writer: FileWriter) -> Path:
    """The file written into a temporary file beside ``path`` and flushed to disk; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding=writer.encoding, newline="", dir=path.parent,
                                         prefix=f".{path.name}{TEMP_MARK}", suffix=".tmp", delete=False)
    try:
        with handle:
            writer.write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Path(handle.name)


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove files staged by an export that was killed before it renamed them; returns them."""
    if not folder.is_dir():
        return []
    leftovers = sorted(folder.glob(f".*{TEMP_MARK}*.tmp"))
    for temp in leftovers:
        temp.unlink(missing_ok=True)
        log.info("removed %s, left by an export that did not finish", temp)
    return leftovers


def output_error(path: Path, exc: OSError, renamed: int = 0) -> OutputError:
    """One line naming the output folder, the reason, the file, and whether earlier files were replaced."""
    code = f" [{errno.errorcode[exc.errno]}]" if exc.errno in errno.errorcode else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    kept = f"{renamed} file(s) were already replaced" if renamed else "files already there were left as they were"
    return OutputError(f"cannot write to output folder {path.parent}: {reason}{code} (writing {path.name}); {kept}")


def check_writable(folder: str | Path) -> None:
    """Raise :class:`OutputError` now, before a run's work, if files cannot be written in ``folder`` (or
    it cannot be created: the run creates it when absent, and nothing is created here)."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write to output folder {folder}: {existing} is a file, not a folder")
    try:
        if existing == folder:
            with tempfile.TemporaryFile(dir=folder):
                pass
        elif not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, f"cannot create it in {existing}")
    except OSError as exc:
        code = f" [{errno.errorcode[exc.errno]}]" if exc.errno in errno.errorcode else ""
        raise OutputError(f"cannot write to output folder {folder}: {exc.strerror or exc}{code}") from exc


def _test_pause(point: str) -> None:
    """Test hook: sleep here when ``TURNOVER_TEST_PAUSE_AT`` names ``point``, so a test can kill the process
    at a known moment (tests/flows/test_faults_flow.py). The one point is ``export``: the first file staged,
    none renamed. Unset (always, outside those tests) it costs one lookup."""
    if os.environ.get("TURNOVER_TEST_PAUSE_AT") == point:
        log.warning("paused at %s (TURNOVER_TEST_PAUSE_AT)", point)
        time.sleep(float(os.environ.get("TURNOVER_TEST_PAUSE_SECONDS", "120")))


def safe_file_part(text: str) -> str:
    """``text`` as one file-name component that cannot leave its folder, unique per ``text``.

    Ids from data never steer a path: anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``,
    and an id changed by that (or too long) gets a short hash of itself, so two ids never share a file.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:60]
    if cleaned and cleaned == text:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned or 'id'}-{digest}"


def settings_json(settings) -> str:
    """Settings as JSON for the run record."""
    return json.dumps(settings.model_dump(mode="json"), sort_keys=True)
