"""Staging one dispensing export for ingest: the file read once, straight into typed and checked rows.

``stage`` leaves, in temporary tables of the connection (dropped by ``drop_staging``):

- ``_ingest_typed``: one row per dispensing row, typed and checked (``sql/validate_dispensing.sql``), in
  file order. It is written outside the load's transaction, so a row's rowid is its position in the file
  (inside a transaction, new rows get provisional rowids);
- ``_ingest_struct``: the lines DuckDB could not read as a record (too many or too few fields ...);
- the view ``_ingest_checked``: those rows with their line in the file (position + header, or through
  ``_ingest_lines`` when a blank or broken line was skipped), reason and the fields as read when rejected.

The export is read by DuckDB once; a clean CSV (``csv_files.scan_file``) where it is.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from turnover.io.csv_files import CsvText, IngestError, duckdb_csv_error, find_blank_lines
from turnover.io.warehouse import quote_identifier, sql_text
from turnover.settings import ColumnMapping

# Explicit dialect, no sniffing: DuckDB's sniffer gives up on the very ragged lines we want to
# reject. The header is parsed by csv_files and every column is read as text.
CSV_READER = (
    "read_csv($path, header = true, auto_detect = false, delim = $delim, quote = '\"', escape = '\"', "
    "columns = $columns, store_rejects = true, rejects_table = '_ingest_csv_errors', "
    "rejects_scan = '_ingest_csv_scans')"
)
# The same reader when the broken lines are known already: it skips the same lines, storing nothing.
CSV_REREADER = (
    "read_csv($path, header = true, auto_detect = false, delim = $delim, quote = '\"', escape = '\"', "
    "columns = $columns, ignore_errors = true)"
)

# Temporary tables and views of one load, dropped when it ends (however it ends).
STAGING = {"view": ("_ingest_checked", "_ingest_base"),
           "table": ("_ingest_typed", "_ingest_src", "_ingest_unpivoted", "_ingest_lines", "_ingest_struct",
                     "_ingest_days", "_ingest_earlier", "_ingest_overlaps", "_ingest_text", "_ingest_drugs",
                     "_ingest_constants", "_ingest_csv_errors", "_ingest_csv_scans")}


def bind(sql: str, params: dict) -> dict:
    """The ``params`` that ``sql`` names (DuckDB refuses a named parameter a statement does not use)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def stage(con, path: Path, mapping: ColumnMapping, params: dict, text: CsvText | None) -> None:
    """``_ingest_typed`` (the rows typed and checked, ``validate_dispensing.sql``), ``_ingest_struct`` (broken
    lines), and the view ``_ingest_checked`` of them with their lines (``_ingest_lines`` when one was skipped)."""
    drop_staging(con)
    fmt = "csv" if text else "parquet"
    header_lines = 1 if text else 0
    if "location_id" not in mapping.columns and mapping.layout == "long":
        con.execute("create temp table _ingest_constants as select $location_id::varchar as location_id",
                    {"location_id": mapping.location_id})
    wide = mapping.layout == "wide"
    if wide:
        needed = list(dict.fromkeys(mapping.source_columns()))
        reader = "read_parquet($path)" if fmt == "parquet" else CSV_READER
        casts = ", ".join(f"cast({quote_identifier(c)} as varchar) as {quote_identifier(c)}" for c in needed)
        sql = f"create temp table _ingest_src as select {casts} from {reader}"
    else:
        sql = sql_text("validate_dispensing").replace("from _ingest_raw", f"from ({raw_select(mapping, fmt)})")
    try:
        con.execute(sql, bind(sql, params))
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read: {duckdb_csv_error(exc)}") from exc
    staged = "_ingest_src" if wide else "_ingest_typed"
    skipped = _struct(con, path, text, staged)
    if wide:
        _unpivot(con, mapping, *_line_expr("s", header_lines, skipped))
        sql = sql_text("validate_dispensing").replace("from _ingest_raw", f"from ({raw_select(mapping, fmt)})")
        con.execute(sql, bind(sql, params))
        # Cells and typed rows were both staged outside a transaction: equal rowids, the same cell.
        line, lines_join = "u.line", " join _ingest_unpivoted u on u.rowid = t.rowid"
    else:
        line, lines_join = _line_expr("t", header_lines, skipped)
    con.execute(
        f"create or replace temp view _ingest_base as select t.rowid as row_key, {line} as line, t.dispensed_at, "
        "t.location_id, t.drug_id, t.quantity, t.drug_name, t.ndc, t.failure[1] as reject_column, "
        "t.failure[2] as reason, t.failure[3] as raw_dispensed_at, t.failure[4] as raw_location_id, "
        f"t.failure[5] as raw_drug_id, t.failure[6] as raw_quantity from _ingest_typed t{lines_join}"
    )
    con.execute("create or replace temp view _ingest_checked as select *, null::varchar as overlap_path "
                "from _ingest_base")


def _struct(con, path: Path, text: CsvText | None, staged: str) -> bool:
    """``_ingest_struct``: one row per broken line DuckDB skipped (and ``_ingest_lines`` when any line was
    skipped); returns whether one was.

    Raises:
        IngestError: a quote opened mid-file is never closed.
    """
    if text is None:
        con.execute("create temp table _ingest_struct (line bigint, column_name varchar, reason varchar)")
        return False
    # An unclosed quote at the end of the file is a truncated last line (rejected); before other lines
    # it swallows them all into one value, which cannot be a row (DuckDB's csv_line holds them).
    unclosed = con.execute(
        "select line, column_name, length(v) - length(replace(v, chr(10), '')) from ("
        "select line, column_name, trim(csv_line, chr(10)) as v from _ingest_csv_errors "
        "where error_type = 'UNQUOTED VALUE') where strpos(v, chr(10)) > 0 order by line limit 1"
    ).fetchone()
    if unclosed:
        line, column, swallowed = unclosed
        raise IngestError(
            f"{path}: line {line}, column {column}: a quote opened here is not closed before the line ends, so "
            f"lines {line}-{line + swallowed} would be read as one value; nothing loaded (fix or remove the quote)"
        )
    con.execute(
        # DuckDB reports one error per missing column: keep one per line, the first.
        "create temp table _ingest_struct as select line, "
        "arg_min(column_name, column_idx) as column_name, "
        "arg_min(lower(error_type) || ': ' || error_message, column_idx) as reason "
        "from _ingest_csv_errors group by line"
    )
    broken = con.execute("select count(*) from _ingest_struct").fetchone()[0]
    blank = text.blank_lines
    if blank is None:  # a clean file read where it is: one pass more over its bytes only if a line is missing
        records = con.execute(f"select count(*) from {staged}").fetchone()[0]
        blank = () if text.lines == 1 + records + broken else find_blank_lines(text.path)
    if blank or broken:
        con.execute(sql_text("ingest_lines").replace("_ingest_staged", staged),
                    {"header_lines": 1, "blank_lines": list(blank)})
    return bool(blank or broken)


def raw_select(mapping: ColumnMapping, fmt: str, reader: str = "") -> str:
    """A select of the export's canonical fields as text (``raw_dispensed_at`` ...), one row per dispensing
    row in file order.

    A wide layout reads ``_ingest_unpivoted`` (:func:`_unpivot`); a long one the file itself, only the
    source columns the mapping names.
    """
    if mapping.layout == "wide":
        return "select raw_dispensed_at, raw_location_id, raw_drug_id, raw_quantity, raw_drug_name, raw_ndc " \
               "from _ingest_unpivoted"
    reader = reader or ("read_parquet($path)" if fmt == "parquet" else CSV_READER)
    def col(name: str) -> str:
        if name not in mapping.columns:
            return "null::varchar"
        return f"cast({quote_identifier(mapping.columns[name])} as varchar)"
    constants = "" if "location_id" in mapping.columns else ", _ingest_constants c"
    location = col("location_id") if "location_id" in mapping.columns else "c.location_id"
    return (
        f"select {col('dispensed_at')} as raw_dispensed_at, {location} as raw_location_id, "
        f"{col('drug_id')} as raw_drug_id, {col('quantity')} as raw_quantity, {col('drug_name')} as raw_drug_name, "
        f"{col('ndc')} as raw_ndc from {reader}{constants}"
    )


def _unpivot(con, mapping: ColumnMapping, line: str, lines_join: str) -> None:
    """``_ingest_unpivoted``: a wide layout's cells (from ``_ingest_src``), one row each, with their line."""
    q = quote_identifier
    on = ", ".join(q(c) for c in mapping.value_columns)
    location = (f"u.{q(mapping.columns['location_id'])}" if "location_id" in mapping.columns
                else "$location_id::varchar")
    sql = (
        "create or replace temp table _ingest_unpivoted as "
        f"select u._ingest_line as line, cast(u.{q(mapping.date_column)} as varchar) as raw_dispensed_at, "  # type: ignore[arg-type]
        f"cast({location} as varchar) as raw_location_id, u.drug as raw_drug_id, u.qty as raw_quantity, "
        "null::varchar as raw_drug_name, null::varchar as raw_ndc "
        f"from (select {line} as _ingest_line, s.* from _ingest_src s{lines_join}) "
        f"unpivot include nulls (qty for drug in ({on})) u"
    )
    con.execute(sql, {"location_id": mapping.location_id} if "$location_id" in sql else {})


def _line_expr(table: str, header_lines: int, skipped: bool) -> tuple[str, str]:
    """(line of a row of ``table`` from its position, the join that needs): position + header when no line
    was skipped, else through ``_ingest_lines``."""
    if skipped:
        return "l.line", f" join _ingest_lines l on l.k = {table}.rowid + 1"
    return f"{table}.rowid + {1 + header_lines}", ""


def drop_staging(con) -> None:
    for kind, names in STAGING.items():
        for name in names:
            con.execute(f"drop {kind} if exists {name}")


