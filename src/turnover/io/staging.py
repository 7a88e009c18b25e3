"""Staging one dispensing export for ingest: the file read once, straight into typed and checked rows.

``stage`` leaves, in temporary tables of the connection (dropped by ``drop_staging``):

- ``_ingest_typed``: one row per dispensing row, typed and checked (``sql/validate_dispensing.sql``), in
  file order. It is written outside the load's transaction, so a row's rowid is its position in the file
  (inside a transaction, new rows get provisional rowids);
- ``_ingest_struct``: the lines DuckDB could not read as a record (too many or too few fields ...);
- the view ``_ingest_checked``: those rows with their line in the file (position + header, or through
  ``_ingest_lines`` when a blank or broken line was skipped), reason and the fields as read when rejected.

The export is read by DuckDB once; a clean CSV (``csv_files.scan_file``) where it is. A Parquet export of the
long layout is not staged but loaded straight from the file (``direct_select``: its rows number themselves),
unless an earlier file has rows in its days and locations (``ingest._load_direct``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from turnover.io.csv_files import CsvText, IngestError, duckdb_csv_error
from turnover.io.warehouse import quote_identifier, sql_text
from turnover.settings import ColumnMapping


def csv_reader(options: str = "") -> str:
    """``read_csv`` of a :class:`CsvText` (parameters: its ``reader_params()``), with ``options`` added.

    Explicit dialect, no sniffing: DuckDB's sniffer gives up on the very ragged lines we want to
    reject. The header is parsed by csv_files and every column is read as text.
    """
    return ("read_csv($path, header = true, auto_detect = false, delim = $delim, quote = '\"', escape = '\"', "
            f"columns = $columns{', ' + options if options else ''})")


CSV_READER = csv_reader("store_rejects = true, rejects_table = '_ingest_csv_errors', rejects_scan = '_ingest_csv_scans'")
# The same reader when the broken lines are known already: it skips the same lines, storing nothing.
CSV_REREADER = csv_reader("ignore_errors = true")
# The location of an export that carries none: the mapping's location_id, bound as $location_id.
FIXED_LOCATION = "$location_id::varchar"
# Parquet column types read as they are (raw_select): a cast to text and back gives the same value, so that no row
# loads or fails otherwise. Not TIMESTAMP WITH TIME ZONE, the _NS, _MS, _S units, FLOAT or DECIMAL: their text is not.
TYPED = {"dispensed_at": ("timestamp", ("TIMESTAMP", "DATE")),
         "quantity": ("double", ("DOUBLE", "BIGINT", "INTEGER", "SMALLINT", "TINYINT"))}
# A character that is not printable ASCII (a glob): every control character validate_dispensing.sql rejects is one.
NOT_PRINTABLE = "*[! -~]*"

# Temporary tables and views of one load, dropped when it ends (however it ends).
STAGING = {"view": ("_ingest_checked", "_ingest_base"),
           "table": ("_ingest_typed", "_ingest_src", "_ingest_unpivoted", "_ingest_lines", "_ingest_struct",
                     "_ingest_skipped", "_ingest_keys", "_ingest_earlier", "_ingest_overlaps", "_ingest_text",
                     "_ingest_drugs", "_ingest_csv_errors", "_ingest_csv_scans")}


def bind(sql: str, params: dict) -> dict:
    """The ``params`` that ``sql`` names (DuckDB refuses a named parameter a statement does not use)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def stage(con, path: Path, mapping: ColumnMapping, params: dict, text: CsvText | None,
          types: dict[str, str] | None = None) -> int:
    """``_ingest_typed`` (the rows typed and checked, ``validate_dispensing.sql``), ``_ingest_struct`` (broken
    lines), and the view ``_ingest_checked`` of them with their lines (``_ingest_lines`` when one was skipped).
    Returns the broken lines' count.

    ``params`` binds the reader (``path``, and a CSV's ``reader_params()``), the checks and ``location_id``;
    ``types`` are a Parquet file's column types (:func:`raw_select`)."""
    drop_staging(con)
    fmt = "csv" if text else "parquet"
    header_lines = 1 if text else 0
    wide = mapping.layout == "wide"
    if wide:
        needed = list(dict.fromkeys(mapping.source_columns()))
        reader = "read_parquet($path)" if fmt == "parquet" else CSV_READER
        casts = ", ".join(f"cast({quote_identifier(c)} as varchar) as {quote_identifier(c)}" for c in needed)
        sql = f"create temp table _ingest_src as select {casts} from {reader}"
    else:
        sql = _validate_sql(mapping, fmt, types)
    try:
        con.execute(sql, bind(sql, params))
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read: {duckdb_csv_error(exc)}") from exc
    staged = "_ingest_src" if wide else "_ingest_typed"
    broken, skipped = _struct(con, path, text, staged)
    if wide:
        _unpivot(con, mapping, params, *_line_expr("s", header_lines, skipped))
        sql = _validate_sql(mapping, fmt)
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
    return broken


def ids_may_hold_controls(con, mapping: ColumnMapping, params: dict) -> bool:
    """Whether a location or drug id of a Parquet export may hold a control character: it holds a character that
    is not printable ASCII (a CSV's :class:`CsvText` tells of its whole text). When none does, the row checks
    skip theirs (``$controls``), a fifth of a load: a glob on the file's own (dictionary) columns costs a
    twentieth of that. True for a wide layout (its cells are not staged yet) and when the file cannot be read
    (staging says why)."""
    if mapping.layout == "wide":
        return True
    sql = (f"select count(*) from ({raw_select(mapping, 'parquet')}) "
           f"where raw_location_id glob '{NOT_PRINTABLE}' or raw_drug_id glob '{NOT_PRINTABLE}'")
    try:
        return con.execute(sql, bind(sql, params)).fetchone()[0] > 0
    except duckdb.Error:
        return True


def _validate_sql(mapping: ColumnMapping, fmt: str, types: dict[str, str] | None = None) -> str:
    """``_ingest_typed``: ``validate_dispensing.sql`` reading the export's rows (:func:`raw_select`)."""
    checked = sql_text("validate_dispensing").replace("from _ingest_raw", f"from ({raw_select(mapping, fmt, types=types)})")
    return f"create or replace temp table _ingest_typed as select * exclude (file_line) from ({checked})"


def direct_select(mapping: ColumnMapping, types: dict[str, str]) -> str:
    """The typed and checked rows of a Parquet export of the long layout (``validate_dispensing.sql``), read where
    it is, each with its line (``file_line``: its row number), for a load straight into the warehouse."""
    rows = raw_select(mapping, "parquet", "read_parquet($path, file_row_number = true)", types, "file_row_number + 1")
    return sql_text("validate_dispensing").replace("from _ingest_raw", f"from ({rows})")


def _struct(con, path: Path, text: CsvText | None, staged: str) -> tuple[int, bool]:
    """``_ingest_struct``: one row per broken line DuckDB skipped (and ``_ingest_lines`` when any line was
    skipped); returns how many lines were broken and whether any line was skipped.

    Raises:
        IngestError: a quote opened mid-file is never closed.
    """
    if text is None:
        con.execute("create temp table _ingest_struct (line bigint, column_name varchar, reason varchar)")
        return 0, False
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
    broken = con.execute(
        # DuckDB reports one error per missing column: keep one per line, the first.
        "create temp table _ingest_struct as select line, "
        "arg_min(column_name, column_idx) as column_name, "
        "arg_min(lower(error_type) || ': ' || error_message, column_idx) as reason "
        "from _ingest_csv_errors group by line"
    ).fetchone()[0]
    if text.blank_lines or broken:
        con.execute("create temp table _ingest_skipped as select line from _ingest_struct "
                    "union all select unnest($blank_lines::bigint[]) as line", {"blank_lines": list(text.blank_lines)})
        build_lines(con, staged, header_lines=1)
    return broken, bool(text.blank_lines or broken)


def build_lines(con, staged: str, header_lines: int) -> None:
    """``_ingest_lines`` (``sql/ingest_lines.sql``): the physical line of each record of the table ``staged``,
    from the lines DuckDB skipped (``_ingest_skipped``, which the caller fills)."""
    con.execute(sql_text("ingest_lines").replace("_ingest_staged", staged), {"header_lines": header_lines})


def raw_select(mapping: ColumnMapping, fmt: str, reader: str = "", types: dict[str, str] | None = None,
               line: str = "null::bigint") -> str:
    """A select of the export's canonical fields as text (``raw_dispensed_at`` ...), one row per dispensing
    row in file order, with its ``file_line`` (the SQL ``line``).

    A wide layout reads ``_ingest_unpivoted`` (:func:`_unpivot`); a long one the file itself, only the
    source columns the mapping names. Given a Parquet file's column ``types``, a date or quantity column of a
    type in :data:`TYPED` comes as it is, as ``typed_dispensed_at`` or ``typed_quantity`` (its ``raw_`` null:
    ``validate_dispensing.sql``); without, those are null.
    """
    typed = {name: f"null::{sql_type}" for name, (sql_type, _) in TYPED.items()}
    if mapping.layout == "wide":
        return "select raw_dispensed_at, raw_location_id, raw_drug_id, raw_quantity, raw_drug_name, raw_ndc, " \
               f"{typed['dispensed_at']} as typed_dispensed_at, {typed['quantity']} as typed_quantity, " \
               f"{line} as file_line from _ingest_unpivoted"
    reader = reader or ("read_parquet($path)" if fmt == "parquet" else CSV_READER)
    raw = {name: f"cast({quote_identifier(source)} as varchar)" for name, source in mapping.columns.items()}
    for name, (_, passed) in TYPED.items():
        source = mapping.columns.get(name)
        if source is not None and (types or {}).get(source) in passed:
            typed[name], raw[name] = quote_identifier(source), "null::varchar"  # its text: the failing rows'
    def col(name: str) -> str:
        return raw.get(name, "null::varchar")
    location = col("location_id") if "location_id" in mapping.columns else FIXED_LOCATION
    return (
        f"select {col('dispensed_at')} as raw_dispensed_at, {location} as raw_location_id, "
        f"{col('drug_id')} as raw_drug_id, {col('quantity')} as raw_quantity, {col('drug_name')} as raw_drug_name, "
        f"{col('ndc')} as raw_ndc, {typed['dispensed_at']} as typed_dispensed_at, "
        f"{typed['quantity']} as typed_quantity, {line} as file_line from {reader}"
    )


def _unpivot(con, mapping: ColumnMapping, params: dict, line: str, lines_join: str) -> None:
    """``_ingest_unpivoted``: a wide layout's cells (from ``_ingest_src``), one row each, with their line."""
    q = quote_identifier
    on = ", ".join(q(c) for c in mapping.value_columns)
    location = f"u.{q(mapping.columns['location_id'])}" if "location_id" in mapping.columns else FIXED_LOCATION
    sql = (
        "create or replace temp table _ingest_unpivoted as "
        f"select u._ingest_line as line, cast(u.{q(mapping.date_column)} as varchar) as raw_dispensed_at, "  # type: ignore[arg-type]
        f"cast({location} as varchar) as raw_location_id, u.drug as raw_drug_id, u.qty as raw_quantity, "
        "null::varchar as raw_drug_name, null::varchar as raw_ndc "
        f"from (select {line} as _ingest_line, s.* from _ingest_src s{lines_join}) "
        f"unpivot include nulls (qty for drug in ({on})) u"
    )
    con.execute(sql, bind(sql, params))


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


