"""Loading dispensing exports (CSV, Parquet) into the warehouse, with rejects and a file ledger.

Every load is one transaction: the good rows, the rejected rows with their reasons, and the ledger
entry land together or not at all. A file whose bytes were loaded before is skipped, so a re-run
changes nothing. Only the canonical columns are ever read from a file; anything else an export
carries (patient, prescriber, prescription identifiers) is listed as ignored and never stored.
"""

from __future__ import annotations

import csv
import gzip
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from turnover import schema
from turnover.io.warehouse import file_sha256, quote_identifier, sql_text, transaction
from turnover.settings import ColumnMapping, IngestSettings

log = logging.getLogger(__name__)

# Explicit dialect and columns: DuckDB's sniffer is confused by the very ragged lines we want to
# reject, so the header is parsed here and every column is read as text.
CSV_OPTIONS = (
    "header = true, delim = $delim, quote = '\"', escape = '\"', columns = $columns, "
    "store_rejects = true, rejects_table = '_ingest_csv_errors', rejects_scan = '_ingest_csv_scans'"
)
DELIMITERS = (",", ";", "\t", "|")


class IngestError(ValueError):
    """A file cannot be loaded at all; the message names the file (and column where one is at fault)."""


@dataclass(frozen=True)
class LoadReport:
    """What one load did. ``rows_read == rows_loaded + rows_rejected`` always holds."""

    file_path: str
    file_sha256: str
    mapping: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    ignored_columns: tuple[str, ...] = ()
    already_loaded: bool = False

    def summary(self) -> str:
        """One line for the console and the run log."""
        if self.already_loaded:
            return f"{self.file_path}: already loaded (sha256 {self.file_sha256[:12]}), nothing changed"
        line = (
            f"{self.file_path}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"rejected {self.rows_rejected} (mapping {self.mapping})"
        )
        if self.ignored_columns:
            line += f"; columns not read: {', '.join(self.ignored_columns)}"
        return line


def file_format(path: Path) -> str:
    """``"parquet"`` or ``"csv"`` from the file name (``.csv.gz`` and ``.txt`` are CSV)."""
    return "parquet" if path.suffix.lower() in {".parquet", ".pq"} else "csv"


def read_csv_header(path: Path) -> tuple[str, list[str]]:
    """The delimiter (the candidate most frequent in the first line) and column names of a CSV file."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        first = handle.readline(1 << 20).decode("utf-8-sig", errors="replace").rstrip("\r\n")
    counts = {d: first.count(d) for d in DELIMITERS}
    delimiter = max(counts, key=counts.__getitem__) if any(counts.values()) else ","
    names = next(csv.reader([first], delimiter=delimiter), [])
    names = [n.strip() for n in names]
    if not names or names == [""]:
        raise IngestError(f"{path}: empty file (no header line)")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise IngestError(f"{path}: line 1: duplicated column name(s) {duplicated}")
    return delimiter, names


def _reader(fmt: str) -> str:
    return "read_parquet($path, file_row_number = true)" if fmt == "parquet" else f"read_csv($path, {CSV_OPTIONS})"


def read_header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names of a dispensing export."""
    if file_format(path) == "csv":
        return read_csv_header(path)[1]
    try:
        rows = con.execute("describe select * from read_parquet($path)", {"path": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from exc
    return [row[0] for row in rows]


def reader_params(path: Path) -> dict[str, object]:
    params: dict[str, object] = {"path": str(path)}
    if file_format(path) == "csv":
        delimiter, names = read_csv_header(path)
        params |= {"delim": delimiter, "columns": {n: "VARCHAR" for n in names}}
    return params


def choose_mapping(header: list[str], path: Path, ingest: IngestSettings, name: str | None = None) -> ColumnMapping:
    """The mapping named ``name``, else the first whose source columns are all in ``header``.

    Raises:
        IngestError: no mapping fits; the message lists the columns the closest mapping misses.
    """
    mappings = ingest.all_mappings()
    if name is not None:
        chosen = [m for m in mappings if m.name == name]
        if not chosen:
            raise IngestError(f"{path}: no column mapping named {name!r} (have {[m.name for m in mappings]})")
        candidates = chosen
    else:
        candidates = mappings
    present = set(header)
    for mapping in candidates:
        if set(mapping.source_columns()) <= present:
            return mapping
    closest = min(candidates, key=lambda m: len(set(m.source_columns()) - present))
    missing = [c for c in closest.source_columns() if c not in present]
    raise IngestError(
        f"{path}: missing required column(s) {missing} (closest mapping {closest.name!r}; header is {header})"
    )


def with_optional_columns(mapping: ColumnMapping, header: list[str]) -> ColumnMapping:
    """``mapping`` plus any optional canonical column (``drug_name``, ``ndc``) the header carries by
    its canonical name and the mapping does not map already."""
    if mapping.layout == "wide":
        return mapping
    extra = {c: c for c in schema.OPTIONAL_DISPENSING_COLUMNS if c in header and c not in mapping.columns}
    return mapping.model_copy(update={"columns": {**mapping.columns, **extra}}) if extra else mapping


def _stage_sql(mapping: ColumnMapping, fmt: str) -> str:
    """SQL creating ``_ingest_src``: a row counter ``k`` and only the source columns the mapping needs."""
    needed = list(dict.fromkeys(mapping.source_columns()))
    cols = ", ".join(quote_identifier(c) for c in needed)
    counter = "file_row_number + 1" if fmt == "parquet" else "row_number() over ()"
    casts = ", ".join(f"cast({quote_identifier(c)} as varchar) as {quote_identifier(c)}" for c in needed)
    return (
        f"create or replace temp table _ingest_src as "
        f"select {counter} as k, {casts} from (select {cols}{', file_row_number' if fmt == 'parquet' else ''} "
        f"from {_reader(fmt)})"
    )


def _raw_sql(mapping: ColumnMapping) -> str:
    """SQL creating ``_ingest_raw`` (line + canonical text columns) from ``_ingest_src`` and ``_ingest_lines``."""
    q = quote_identifier
    if mapping.layout == "wide":
        on = ", ".join(q(c) for c in mapping.value_columns)
        return (
            "create or replace temp table _ingest_raw as "
            f"select l.line, u.{q(mapping.date_column)} as raw_dispensed_at, "  # type: ignore[arg-type]
            f"{_location_expr(mapping, 'u.')} as raw_location_id, u.drug as raw_drug_id, u.qty as raw_quantity, "
            "null::varchar as raw_drug_name, null::varchar as raw_ndc "
            f"from _ingest_src unpivot include nulls (qty for drug in ({on})) u "
            "join _ingest_lines l using (k)"
        )
    def col(name: str) -> str:
        return f"s.{q(mapping.columns[name])}" if name in mapping.columns else "null::varchar"
    return (
        "create or replace temp table _ingest_raw as "
        f"select l.line, {col('dispensed_at')} as raw_dispensed_at, {_location_expr(mapping, 's.')} as raw_location_id, "
        f"{col('drug_id')} as raw_drug_id, {col('quantity')} as raw_quantity, "
        f"{col('drug_name')} as raw_drug_name, {col('ndc')} as raw_ndc "
        "from _ingest_src s join _ingest_lines l using (k)"
    )


def _location_expr(mapping: ColumnMapping, prefix: str) -> str:
    if "location_id" in mapping.columns:
        return f"{prefix}{quote_identifier(mapping.columns['location_id'])}"
    return "$location_id::varchar"


# Physical line of the k-th good record. DuckDB skips structurally broken lines (reported in
# _ingest_struct with their true line): good record k sits after every broken line that has fewer
# than k good records before it, so its line is k + header + that count.
LINES_SQL = """
create or replace temp table _ingest_lines as
with broken as (
    select line, line - 2 - (row_number() over (order by line) - 1) as good_before,
           row_number() over (order by line) as n_broken
    from _ingest_struct
)
select s.k, s.k + $header_lines + coalesce(b.n_broken, 0) as line
from _ingest_src s asof left join broken b on s.k > b.good_before
"""


def load_dispensing_file(
    con: duckdb.DuckDBPyConnection, path: str | Path, ingest: IngestSettings, mapping_name: str | None = None
) -> LoadReport:
    """Load one export into ``raw.dispensing``; rejected rows go to ``raw.dispensing_rejects``.

    Raises:
        IngestError: the file is missing, unreadable, or lacks a required column.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: file not found")
    sha = file_sha256(path)
    seen = con.execute(
        f"select mapping, rows_read, rows_loaded, rows_rejected from {schema.LOADED_FILES} where file_sha256 = ?", [sha]
    ).fetchone()
    if seen:
        return LoadReport(str(path), sha, seen[0], seen[1], seen[2], seen[3], already_loaded=True)

    fmt = file_format(path)
    header = read_header(con, path)
    mapping = with_optional_columns(choose_mapping(header, path, ingest, mapping_name), header)
    ignored = tuple(h for h in header if h not in set(mapping.source_columns()))
    params = reader_params(path)
    with transaction(con):
        for table in ("_ingest_csv_errors", "_ingest_csv_scans"):
            con.execute(f"drop table if exists {table}")
        try:
            con.execute(_stage_sql(mapping, fmt), params)
        except duckdb.Error as exc:
            raise IngestError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from exc
        if fmt == "csv":
            con.execute(
                # DuckDB reports one error per missing column: keep one per line, the first.
                "create or replace temp table _ingest_struct as select line, "
                "arg_min(column_name, column_idx) as column_name, "
                "arg_min(lower(error_type) || ': ' || error_message, column_idx) as reason "
                "from _ingest_csv_errors group by line"
            )
        else:
            con.execute("create or replace temp table _ingest_struct (line bigint, column_name varchar, reason varchar)")
        con.execute(LINES_SQL, {"header_lines": 1 if fmt == "csv" else 0})
        raw_sql = _raw_sql(mapping)
        con.execute(raw_sql, {"location_id": mapping.location_id} if "$location_id" in raw_sql else {})
        con.execute(
            sql_text("validate_dispensing"),
            {
                "date_formats": mapping.date_formats,
                "earliest_date": ingest.earliest_date,
                "max_abs_quantity": ingest.max_abs_quantity_units,
            },
        )
        report = _commit_load(con, path, sha, fmt, mapping, ignored)
    log.info(report.summary())
    return report


def _commit_load(con, path: Path, sha: str, fmt: str, mapping: ColumnMapping, ignored: tuple[str, ...]) -> LoadReport:
    con.execute(
        f"insert into {schema.DISPENSING} select $sha, line, dispensed_at, location_id, drug_id, quantity, "
        "drug_name, ndc from _ingest_checked where reason is null",
        {"sha": sha},
    )
    con.execute(
        f"insert into {schema.DISPENSING_REJECTS} "
        "select $sha, $path, line, reject_column, reason, raw_dispensed_at, raw_location_id, raw_drug_id, raw_quantity "
        "from _ingest_checked where reason is not null "
        "union all select $sha, $path, line, column_name, reason, null, null, null, null from _ingest_struct",
        {"sha": sha, "path": str(path)},
    )
    loaded, rejected_values = con.execute(
        "select count(*) filter (where reason is null), count(*) filter (where reason is not null) from _ingest_checked"
    ).fetchone()
    rejected = rejected_values + con.execute("select count(*) from _ingest_struct").fetchone()[0]
    report = LoadReport(str(path), sha, mapping.name, loaded + rejected, loaded, rejected, ignored)
    con.execute(
        f"insert into {schema.LOADED_FILES} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [sha, str(path), fmt, mapping.name, datetime.now(), report.rows_read, loaded, rejected, list(ignored)],
    )
    for table in ("_ingest_src", "_ingest_lines", "_ingest_raw", "_ingest_checked", "_ingest_struct"):
        con.execute(f"drop table if exists {table}")
    return report


def load_dispensing(
    con: duckdb.DuckDBPyConnection, paths: list[str | Path], ingest: IngestSettings, mapping_name: str | None = None
) -> list[LoadReport]:
    """Load several exports, one transaction each, in the order given."""
    return [load_dispensing_file(con, p, ingest, mapping_name) for p in paths]
