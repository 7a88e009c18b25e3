"""Loading dispensing exports (CSV, CSV.GZ, Parquet) into the warehouse, with rejects and a file ledger.

Every load is one transaction: the good rows, the rejected rows with their reasons, and the ledger
entry land together or not at all. A file whose bytes were loaded before is skipped, so a re-run
changes nothing. Only the canonical columns are ever read from a file; anything else an export
carries (patient, prescriber, prescription identifiers) is listed as not read and never stored, and
a mapping that names such a column by mistake has it refused (:mod:`turnover.io.privacy`).

What happens to bad input. Rows read = rows loaded + rows rejected, for every load.

- The whole file is refused (``IngestError`` naming the file, and the line and column where one is at
  fault): missing, empty, a blank header line, no mapping fits the header, a column the mapping reads
  appears twice in the header, a mapped required column looks like a personal identifier, a damaged
  gzip stream, an unreadable Parquet file, or a quote opened and never closed before the next line
  (everything after it would be one value).
- A row is rejected into ``raw.dispensing_rejects`` with its line, column and reason while the rest
  loads: a broken line (too many or too few fields, a quote closed mid-value), an empty or
  unparseable date, a date before ``ingest.earliest_date``, a date more than
  ``FUTURE_TOLERANCE_DAYS`` (1) after the load day (the as-of of a run is not known at load time,
  and a mistyped year must not become the default as-of; rows after an explicit as-of but not after
  the load day load, and that run does not use them), an empty location or drug id, a drug id in
  spreadsheet scientific notation, an NDC of three digit groups that fits no NDC form, an empty, non-
  numeric, non-finite or implausibly large quantity. Negative (a return) and fractional (split pack,
  liquid) quantities are valid.
- Loaded but flagged on the report: drug ids not in the current catalog (when one is loaded), and
  ids of 7-10 digits only (an NDC whose leading zeros or hyphens a spreadsheet dropped? it is not
  guessed at: its form cannot be known).

Overlaps with files loaded before, and corrected re-sends: :mod:`turnover.io.resend`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from turnover import schema
from turnover.io.csv_files import CsvText, IngestError, csv_text, duckdb_csv_error, read_csv_header
from turnover.io.mapping import choose_mapping, with_optional_columns, without_identifiers
from turnover.io.resend import reject_overlaps, replace_resent
from turnover.io.warehouse import file_sha256, quote_identifier, sql_text, transaction
from turnover.settings import ColumnMapping, IngestSettings

log = logging.getLogger(__name__)

# Explicit dialect, no sniffing: DuckDB's sniffer gives up on the very ragged lines we want to
# reject. The header is parsed by csv_files and every column is read as text.
CSV_READER = (
    "read_csv($path, header = true, auto_detect = false, delim = $delim, quote = '\"', escape = '\"', "
    "columns = $columns, store_rejects = true, rejects_table = '_ingest_csv_errors', "
    "rejects_scan = '_ingest_csv_scans')"
)
EXAMPLES = 5  # ids named in a summary line
# Rows dated after the load day plus this are rejected: slack for time zones (an export stamped in
# local time, loaded on a UTC clock), not for planning.
FUTURE_TOLERANCE_DAYS = 1


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
    encoding: str = ""
    refused_columns: tuple[str, ...] = ()  # "<header> (as <canonical>)": identifiers a mapping named
    rows_overlapping: int = 0  # of the rejected rows, those another file loaded already
    overlapping_files: tuple[str, ...] = ()
    replaced_files: tuple[str, ...] = ()  # earlier files this corrected re-send replaced
    rows_replaced: int = 0
    drugs_not_in_catalog: tuple[str, ...] | None = None  # None: no catalog loaded to check against
    suspect_ndcs: tuple[str, ...] = ()  # 7-10 digits only

    def summary(self) -> str:
        """One line for the console and the run log."""
        if self.already_loaded:
            return f"{self.file_path}: already loaded (sha256 {self.file_sha256[:12]}), nothing changed"
        parts = [
            f"{self.file_path}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"rejected {self.rows_rejected} (mapping {self.mapping})"
        ]
        if self.encoding not in ("", "utf-8"):
            parts.append(f"read as {self.encoding}")
        if self.replaced_files:
            parts.append(f"corrected re-send of {', '.join(self.replaced_files)}: its {self.rows_replaced} rows "
                         "moved to raw.dispensing_rejects")
        if self.rows_overlapping:
            parts.append(f"{self.rows_overlapping} rejected rows already loaded from {', '.join(self.overlapping_files)}")
        if self.refused_columns:
            parts.append(f"refused identifier columns a mapping names: {', '.join(self.refused_columns)}")
        if self.ignored_columns:
            parts.append(f"columns not read: {', '.join(self.ignored_columns)}")
        if self.drugs_not_in_catalog:
            parts.append(f"{len(self.drugs_not_in_catalog)} drug ids not in the catalog: "
                         + _examples(self.drugs_not_in_catalog))
        if self.suspect_ndcs:
            parts.append(f"{len(self.suspect_ndcs)} drug ids of 7-10 digits only (NDCs that lost leading zeros or "
                         "hyphens in a spreadsheet?): " + _examples(self.suspect_ndcs))
        return "; ".join(parts)


def _examples(ids: tuple[str, ...]) -> str:
    return ", ".join(ids[:EXAMPLES]) + (", ..." if len(ids) > EXAMPLES else "")


def file_format(path: Path) -> str:
    """``"parquet"`` or ``"csv"`` from the file name (``.csv.gz`` and ``.txt`` are CSV)."""
    return "parquet" if path.suffix.lower() in {".parquet", ".pq"} else "csv"


def read_header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names of an export (CSV: unique, blanks named ``column<N>``).

    Raises:
        IngestError: the file cannot be read.
    """
    if file_format(path) == "csv":
        return list(read_csv_header(path)[1])
    try:
        rows = con.execute("describe select * from read_parquet($path)", {"path": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from exc
    return [row[0] for row in rows]


def _stage_sql(mapping: ColumnMapping, fmt: str) -> str:
    """SQL creating ``_ingest_src``: a row counter ``k`` and only the source columns the mapping needs."""
    needed = list(dict.fromkeys(mapping.source_columns()))
    cols = ", ".join(quote_identifier(c) for c in needed)
    counter = "file_row_number + 1" if fmt == "parquet" else "row_number() over ()"
    casts = ", ".join(f"cast({quote_identifier(c)} as varchar) as {quote_identifier(c)}" for c in needed)
    reader = "read_parquet($path, file_row_number = true)" if fmt == "parquet" else CSV_READER
    return (
        f"create or replace temp table _ingest_src as "
        f"select {counter} as k, {casts} from (select {cols}{', file_row_number' if fmt == 'parquet' else ''} "
        f"from {reader})"
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


# Physical line of the k-th good record. DuckDB skips blank lines and structurally broken ones (the
# latter reported in _ingest_struct with their true line): good record k sits after every skipped
# line that has fewer than k good records before it, so its line is k + header + that count.
LINES_SQL = """
create or replace temp table _ingest_lines as
with skipped as (
    select line from _ingest_struct
    union all
    select unnest($blank_lines::bigint[]) as line
),
ranked as (
    select line - 1 - $header_lines - (row_number() over (order by line) - 1) as good_before,
           row_number() over (order by line) as n_skipped
    from skipped
),
-- Consecutive skipped lines share good_before: the record after them follows the last one.
runs as (
    select good_before, max(n_skipped) as n_skipped from ranked group by good_before
)
select s.k, s.k + $header_lines + coalesce(r.n_skipped, 0) as line
from _ingest_src s asof left join runs r on s.k > r.good_before
"""


def load_dispensing_file(
    con: duckdb.DuckDBPyConnection, path: str | Path, ingest: IngestSettings, mapping_name: str | None = None,
    *, today: date | None = None,
) -> LoadReport:
    """Load one export into ``raw.dispensing``; rejected rows go to ``raw.dispensing_rejects``.

    Args:
        today: the load day, which bounds future dates (default: the machine's date).

    Raises:
        IngestError: the file cannot be loaded at all (see the module docstring); nothing is written.
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
    latest = (today or date.today()) + timedelta(days=FUTURE_TOLERANCE_DAYS)
    if file_format(path) == "parquet":
        report = _load(con, path, sha, ingest, mapping_name, latest, None)
    else:
        with csv_text(path) as text:
            report = _load(con, path, sha, ingest, mapping_name, latest, text)
    log.info(report.summary())
    return report


def _load(con, path: Path, sha: str, ingest: IngestSettings, mapping_name: str | None, latest: date,
          text: CsvText | None) -> LoadReport:
    header = list(text.columns) if text else read_header(con, path)
    mapping = with_optional_columns(choose_mapping(header, path, ingest, mapping_name), header)
    mapping, refused = without_identifiers(mapping, path)
    read = set(mapping.source_columns())
    if text is not None:
        ambiguous = [name for name in text.duplicated if name in read]
        if ambiguous:
            raise IngestError(f"{path}: line 1: column(s) {ambiguous} appear more than once in the header; "
                              "which one to read is ambiguous")
    refused_headers = {r.rsplit(" (as ", 1)[0] for r in refused}
    ignored = tuple(h for h in header if h not in read and h not in refused_headers)
    params: dict[str, object] = {"path": str(text.path if text else path)}
    if text is not None:
        params |= {"delim": text.delimiter, "columns": {n: "VARCHAR" for n in text.columns}}
    with transaction(con):
        _stage(con, path, mapping, params, text)
        raw_sql = _raw_sql(mapping)
        con.execute(raw_sql, {"location_id": mapping.location_id} if "$location_id" in raw_sql else {})
        con.execute(sql_text("validate_dispensing"), {
            "date_formats": mapping.date_formats, "earliest_date": ingest.earliest_date, "latest_date": latest,
            "max_abs_quantity": ingest.max_abs_quantity_units,
        })
        replaced, rows_replaced = replace_resent(con, path, sha)
        reject_overlaps(con)
        report = _commit_load(con, path, sha, mapping, ignored + tuple(sorted(refused_headers)))
    return dataclasses.replace(report, ignored_columns=ignored, encoding=text.encoding if text else "",
                               refused_columns=refused, replaced_files=replaced, rows_replaced=rows_replaced)


def _stage(con, path: Path, mapping: ColumnMapping, params: dict, text: CsvText | None) -> None:
    """``_ingest_src`` (the mapped columns as text), ``_ingest_struct`` (broken lines), ``_ingest_lines``."""
    for table in ("_ingest_csv_errors", "_ingest_csv_scans"):
        con.execute(f"drop table if exists {table}")
    try:
        con.execute(_stage_sql(mapping, "csv" if text else "parquet"), params)
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read: {duckdb_csv_error(exc)}") from exc
    if text is None:
        con.execute("create or replace temp table _ingest_struct (line bigint, column_name varchar, reason varchar)")
        con.execute(LINES_SQL, {"header_lines": 0, "blank_lines": []})
        return
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
        "create or replace temp table _ingest_struct as select line, "
        "arg_min(column_name, column_idx) as column_name, "
        "arg_min(lower(error_type) || ': ' || error_message, column_idx) as reason "
        "from _ingest_csv_errors group by line"
    )
    con.execute(LINES_SQL, {"header_lines": 1, "blank_lines": list(text.blank_lines)})


def _commit_load(con, path: Path, sha: str, mapping: ColumnMapping, not_read: tuple[str, ...]) -> LoadReport:
    fmt = file_format(path)
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
    loaded, rejected_values, overlapping = con.execute(
        "select count(*) filter (where reason is null), count(*) filter (where reason is not null), "
        "count(overlap_path) from _ingest_checked"
    ).fetchone()
    overlapping_files = _ids(con, "select distinct overlap_path from _ingest_checked where overlap_path is not null order by 1")
    rejected = rejected_values + con.execute("select count(*) from _ingest_struct").fetchone()[0]
    con.execute(
        f"insert into {schema.LOADED_FILES} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [sha, str(path), fmt, mapping.name, datetime.now(), loaded + rejected, loaded, rejected, list(not_read)],
    )
    report = LoadReport(
        str(path), sha, mapping.name, loaded + rejected, loaded, rejected, rows_overlapping=overlapping,
        overlapping_files=overlapping_files, drugs_not_in_catalog=_not_in_catalog(con), suspect_ndcs=_ids(
            con, "select distinct drug_id from _ingest_checked where reason is null "
            "and regexp_full_match(drug_id, '\\d{7,10}') order by 1"),
    )
    for table in ("_ingest_src", "_ingest_lines", "_ingest_raw", "_ingest_checked", "_ingest_struct", "_ingest_days"):
        con.execute(f"drop table if exists {table}")
    return report


def _ids(con, sql: str) -> tuple[str, ...]:
    return tuple(r[0] for r in con.execute(sql).fetchall())


def _not_in_catalog(con) -> tuple[str, ...] | None:
    """Drug ids this load brought that the current catalog lacks; None when no catalog is loaded."""
    if not con.execute(f"select count(*) from {schema.CATALOG}").fetchone()[0]:
        return None
    return _ids(con, "select distinct drug_id from _ingest_checked where reason is null "
                f"and drug_id not in (select drug_id from {schema.CATALOG}) order by 1")


def load_dispensing(
    con: duckdb.DuckDBPyConnection, paths: list[str | Path], ingest: IngestSettings, mapping_name: str | None = None,
) -> list[LoadReport]:
    """Load several exports, one transaction each, in the order given."""
    return [load_dispensing_file(con, p, ingest, mapping_name) for p in paths]
