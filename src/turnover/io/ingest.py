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
  the load day load, and that run does not use them), an empty location or drug id, an id holding a
  control character (a NUL from Parquet, an escape sequence: C0 but the line break, or DEL), a drug id in
  spreadsheet scientific notation, an NDC of three digit groups that fits no NDC form, an empty, non-
  numeric, non-finite or implausibly large quantity. Negative (a return) and fractional (split pack,
  liquid) quantities are valid.
- Loaded but flagged on the report: drug ids not in the current catalog (when one is loaded), and
  ids of 7-10 digits only (an NDC whose leading zeros or hyphens a spreadsheet dropped? it is not
  guessed at: its form cannot be known).

Overlaps with files loaded before, corrected re-sends and files named as replaced (``replaces``):
:mod:`turnover.io.resend`, all per location x drug x day.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from turnover import schema
from turnover.io.csv_files import (
    CsvText,
    FileScan,
    IngestError,
    csv_text,
    duckdb_csv_error,
    refuse_repeated,
    scan_file,
)
from turnover.io.load_report import LoadReport
from turnover.io.mapping import choose_mapping, with_optional_columns, without_identifiers
from turnover.io.resend import (
    LedgerFile,
    Replaced,
    earlier_window,
    named_files,
    reject_overlaps,
    replace_named,
    replace_resent,
    still_loaded,
)
from turnover.io.staging import (
    CSV_REREADER,
    bind,
    direct_select,
    drop_staging,
    ids_may_hold_controls,
    raw_select,
    stage,
)
from turnover.io.warehouse import transaction
from turnover.settings import ColumnMapping, IngestSettings

log = logging.getLogger(__name__)

# Rows dated after the load day plus this are rejected: slack for time zones (an export stamped in
# local time, loaded on a UTC clock), not for planning.
FUTURE_TOLERANCE_DAYS = 1


def file_format(path: Path) -> str:
    """``"parquet"`` or ``"csv"`` from the file name (``.csv.gz`` and ``.txt`` are CSV)."""
    return "parquet" if path.suffix.lower() in {".parquet", ".pq"} else "csv"


def parquet_header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names of a Parquet file (a CSV's are its ``csv_text(...).columns``).

    Raises:
        IngestError: the file cannot be read.
    """
    return [name for name, _ in parquet_columns(con, path)]


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of a Parquet file.

    Raises:
        IngestError: the file cannot be read.
    """
    try:
        rows = con.execute("describe select * from read_parquet($path)", {"path": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from exc
    return [(row[0], row[1]) for row in rows]


def load_dispensing_file(
    con: duckdb.DuckDBPyConnection, path: str | Path, ingest: IngestSettings, mapping_name: str | None = None,
    *, today: date | None = None, scan: FileScan | None = None, replaces: Sequence[str | Path] = (),
) -> LoadReport:
    """Load one export into ``raw.dispensing``; rejected rows go to ``raw.dispensing_rejects``.

    Args:
        today: the load day, which bounds future dates (default: the machine's date).
        scan: the file's :func:`scan_file`, if done already.
        replaces: earlier files this one replaces: all their rows move to the rejects in the same transaction.

    Raises:
        IngestError: the file cannot be loaded at all (see the module docstring), a file ``replaces`` names was
            never loaded, or this file was loaded before one it replaces; nothing is written.
    """
    replaced = named_files(con, replaces)
    report = _load_file(con, Path(path), ingest, mapping_name, today, scan, replaced)
    _refuse_unreplaced(con, [report], replaced)
    return report


def _refuse_unreplaced(con, reports: list[LoadReport], replaced: tuple[LedgerFile, ...]) -> None:
    """Refuse a load meant to replace files (``replaces``) in which no file loaded: each was loaded before.

    Raises:
        IngestError: some of ``replaced`` still have rows loaded.
    """
    pending = () if any(not r.already_loaded for r in reports) else still_loaded(con, replaced)
    if pending:
        raise IngestError(f"{', '.join(r.file_path for r in reports) or 'no file'}: loaded before, so it cannot "
                          f"replace {', '.join(pending)} now (its rows were checked against those when it loaded); "
                          "nothing changed")


def _load_file(con, path: Path, ingest: IngestSettings, mapping_name: str | None, today: date | None,
               scan: FileScan | None, replaces: tuple[LedgerFile, ...]) -> LoadReport:
    if not path.is_file():
        raise IngestError(f"{path}: file not found")
    scan = scan or scan_file(path, probe=file_format(path) == "csv")
    sha = scan.sha256
    seen = con.execute(
        f"select mapping, rows_read, rows_loaded, rows_rejected from {schema.LOADED_FILES} where file_sha256 = ?", [sha]
    ).fetchone()
    if seen:
        return LoadReport(str(path), sha, seen[0], seen[1], seen[2], seen[3], already_loaded=True)
    latest = (today or date.today()) + timedelta(days=FUTURE_TOLERANCE_DAYS)
    try:
        if file_format(path) == "parquet":
            report = _load(con, path, sha, ingest, mapping_name, latest, None, replaces)
        else:
            with csv_text(path, scan) as text:
                report = _load(con, path, sha, ingest, mapping_name, latest, text, replaces)
    finally:
        drop_staging(con)
    log.info(report.summary())
    return report


@dataclass(frozen=True)
class Load:
    """One file's load under way: what it reads with (``params``: the reader's, the checks' and the location's) and
    the columns it does not read."""

    path: Path
    sha: str
    mapping: ColumnMapping
    not_read: tuple[str, ...]
    params: dict[str, object]


def _load(con, path: Path, sha: str, ingest: IngestSettings, mapping_name: str | None, latest: date,
          text: CsvText | None, replaces: tuple[LedgerFile, ...]) -> LoadReport:
    columns = [] if text else parquet_columns(con, path)
    header = list(text.columns) if text else [name for name, _ in columns]
    mapping = with_optional_columns(choose_mapping(header, path, ingest, mapping_name), header)
    mapping, refused = without_identifiers(mapping, path)
    read = set(mapping.source_columns())
    refuse_repeated(path, text, sorted(read), "; which one to read is ambiguous")
    refused_headers = set(refused.values())
    ignored = tuple(h for h in header if h not in read and h not in refused_headers)
    params: dict[str, object] = (text.reader_params() if text else {"path": str(path)}) | {
        "location_id": mapping.location_id}
    checks = {"date_formats": mapping.date_formats, "earliest_date": ingest.earliest_date, "latest_date": latest,
              "max_abs_quantity": ingest.max_abs_quantity_units,
              "controls": text.controls if text else ids_may_hold_controls(con, mapping, params)}
    load = Load(path, sha, mapping, ignored + tuple(sorted(refused_headers)), params | checks)
    direct = text is None and mapping.layout == "long"
    report, replaced = (direct and _load_direct(con, load, dict(columns), replaces)) or _load_staged(
        con, load, text, dict(columns), replaces)
    return dataclasses.replace(report, ignored_columns=ignored, encoding=text.encoding if text else "",
                               refused_columns=tuple(f"{h} (as {c})" for c, h in refused.items()),
                               replaced_files=tuple(r[0] for r in replaced), rows_replaced=sum(r[1] for r in replaced),
                               replacements=tuple(r[2] for r in replaced))


def _load_staged(con, load: Load, text: CsvText | None, types: dict[str, str],
                 replaces: tuple[LedgerFile, ...]) -> tuple[LoadReport, list[Replaced]]:
    """Stage the file (:mod:`turnover.io.staging`), then in one transaction apply the re-send and overlap rules to the
    staged rows and insert them (:func:`_commit_load`)."""
    path, sha = load.path, load.sha
    # Staging writes only temporary tables: it runs before the transaction, so that the rowids of the
    # staged rows are their positions in the file (inside a transaction, new rows get provisional rowids).
    broken = stage(con, path, load.mapping, load.params, text, types)
    with transaction(con):
        file_id = _next_file_id(con)
        replaced = replace_named(con, path, replaces)
        window = earlier_window(con, file_id)
        overlapping = 0
        if window:  # an earlier file has rows in this one's days and locations
            replaced += replace_resent(con, path, sha)
            overlapping = reject_overlaps(con, window)
        if overlapping:
            # Overlapping rows are rejected with their fields as read: read the file's text once more.
            reader = CSV_REREADER if text is not None else ""
            raw = raw_select(load.mapping, "csv" if text else "parquet", reader)
            con.execute("create or replace temp table _ingest_text as select row_number() over () - 1 as row_key, "
                        f"* from ({raw})", bind(raw, load.params))
        report = _commit_load(con, load, file_id, broken, overlapping)
    return report, replaced


def _load_direct(con, load: Load, types: dict[str, str],
                 replaces: tuple[LedgerFile, ...]) -> tuple[LoadReport, list[Replaced]] | None:
    """Load a Parquet export of the long layout straight from the file, in one transaction: the good rows in one
    read (a staged load writes every row twice, a fifth of the time of a large Parquet load), the rejected ones
    in a second, when the file's row count says some row was. None, with nothing written, when an earlier file
    has rows in the loaded rows' days and locations: the staged load applies the re-send and overlap rules."""
    path = load.path
    rows = con.execute("select coalesce(sum(num_rows), 0) from parquet_file_metadata($path)",
                       {"path": str(path)}).fetchone()[0]
    checked = direct_select(load.mapping, types)
    params = bind(checked, load.params)
    try:
        with transaction(con):
            file_id = _next_file_id(con)
            replaced = replace_named(con, path, replaces)
            try:
                loaded = con.execute(
                    f"insert into {schema.DISPENSING} select $file_id, file_line, dispensed_at, location_id, drug_id, "
                    f"quantity, drug_name, ndc from ({checked}) where failure is null", params | {"file_id": file_id},
                ).fetchone()[0]
            except duckdb.Error as exc:
                raise IngestError(f"{path}: cannot read: {duckdb_csv_error(exc)}") from exc
            if earlier_window(con, file_id, staged=False):
                raise _Overlaps  # rolls the rows back: the staged load applies the rules
            report = _commit_direct(con, load, file_id, loaded, checked if loaded < rows else "")
    except _Overlaps:
        return None
    return report, replaced


class _Overlaps(Exception):
    """A direct load found an earlier file's rows in its window (:func:`_load_direct`)."""


def _next_file_id(con) -> int:
    """The number of the file being loaded in ``raw.loaded_files`` and ``raw.dispensing`` (in its transaction)."""
    return con.execute(f"select coalesce(max(file_id), 0) + 1 from {schema.LOADED_FILES}").fetchone()[0]


def _commit_direct(con, load: Load, file_id: int, loaded: int, checked: str) -> LoadReport:
    """The rejected rows of a direct load (read again from ``checked``, when some row was), the ledger entry and
    the report; the good rows are in raw.dispensing already."""
    rejected = 0
    if checked:
        rejected = con.execute(
            f"insert into {schema.DISPENSING_REJECTS} select $sha, $path, file_line, failure[1], failure[2], "
            f"failure[3], failure[4], failure[5], failure[6] from ({checked}) where failure is not null "
            "order by file_line", bind(checked, load.params) | {"sha": load.sha, "path": str(load.path)},
        ).fetchone()[0]
    con.execute(f"create or replace temp table _ingest_drugs as select distinct drug_id from {schema.DISPENSING} "
                "where file_id = $file_id", {"file_id": file_id})
    return _record(con, load, file_id, loaded, rejected)


def _commit_load(con, load: Load, file_id: int, broken: int, overlapping: int) -> LoadReport:
    """Insert the good rows, the rejected ones (with their fields as read: from ``_ingest_text``, the file read
    again, if some of them ``overlapping`` files loaded before), the ``broken`` lines (``_ingest_struct``) and the
    ledger entry; the report of the load."""
    sha, path = load.sha, str(load.path)
    # Not sorted by row_key: the rows keep their staged order all the same (DuckDB preserves insertion order), and
    # a sort costs more (1.2 s on 15 million rows) than the part-filled row groups it spares the next checkpoint.
    loaded = con.execute(
        f"insert into {schema.DISPENSING} select $file_id, line, dispensed_at, location_id, drug_id, quantity, "
        "drug_name, ndc from _ingest_checked where reason is null",
        {"file_id": file_id},
    ).fetchone()[0]
    # The fields as read: kept on the rows rejected by value, read again for those that overlap.
    raw = ["raw_dispensed_at", "raw_location_id", "raw_drug_id", "raw_quantity"]
    fields = ", ".join(f"coalesce(c.{f}, x.{f})" if overlapping else f"c.{f}" for f in raw)
    join = " left join _ingest_text x using (row_key)" if overlapping else ""
    rejected_values = con.execute(
        f"insert into {schema.DISPENSING_REJECTS} select $sha, $path, c.line, c.reject_column, c.reason, {fields} "
        f"from _ingest_checked c{join} where c.reason is not null order by c.row_key",
        {"sha": sha, "path": path},
    ).fetchone()[0]
    if broken:
        con.execute(
            f"insert into {schema.DISPENSING_REJECTS} "
            "select $sha, $path, line, column_name, reason, null, null, null, null from _ingest_struct",
            {"sha": sha, "path": path},
        )
    overlapping_files = _ids(con, "select distinct overlap_path from _ingest_overlaps order by 1") if overlapping else ()
    con.execute("create or replace temp table _ingest_drugs as select distinct drug_id from _ingest_checked "
                "where reason is null")
    report = _record(con, load, file_id, loaded, rejected_values + broken)
    return dataclasses.replace(report, rows_overlapping=overlapping, overlapping_files=overlapping_files)


def _record(con, load: Load, file_id: int, loaded: int, rejected: int) -> LoadReport:
    """The ledger entry of a load that inserted its rows, and its report (the drug ids it brought: ``_ingest_drugs``)."""
    con.execute(
        f"insert into {schema.LOADED_FILES} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load.sha, str(load.path), file_format(load.path), load.mapping.name, datetime.now(), loaded + rejected, loaded,
         rejected, list(load.not_read), file_id],
    )
    return LoadReport(
        str(load.path), load.sha, load.mapping.name, loaded + rejected, loaded, rejected,
        drugs_not_in_catalog=_not_in_catalog(con), suspect_ndcs=_ids(
            con, "select drug_id from _ingest_drugs where regexp_full_match(drug_id, '\\d{7,10}') order by 1"),
    )


def _ids(con, sql: str) -> tuple[str, ...]:
    return tuple(r[0] for r in con.execute(sql).fetchall())


def _not_in_catalog(con) -> tuple[str, ...] | None:
    """Drug ids this load brought that the current catalog lacks; None when no catalog is loaded."""
    if not con.execute(f"select count(*) from {schema.CATALOG}").fetchone()[0]:
        return None
    return _ids(con, f"select drug_id from _ingest_drugs where drug_id not in (select drug_id from {schema.CATALOG}) "
                "order by 1")


def load_dispensing(
    con: duckdb.DuckDBPyConnection, paths: list[str | Path], ingest: IngestSettings, mapping_name: str | None = None,
    *, replaces: Sequence[str | Path] = (),
) -> list[LoadReport]:
    """Load several exports, one transaction each, in the order given.

    ``replaces`` names earlier files the new ones replace (``--replaces``): the first of ``paths`` that loads
    (not loaded before) moves all their rows to the rejects, in its transaction. A path naming no file ever
    loaded refuses the load before anything is written, and so does a load in which every file was loaded
    before while a file to replace still has rows (``IngestError``).

    The next file is hashed (``scan_file``) in a background thread while one loads: DuckDB releases the
    GIL while it works, and on large exports the hash is a fifth of the load.
    """
    paths = [Path(p) for p in paths]
    replaced = named_files(con, replaces)
    pending = replaced  # until a file loads: it moves them all, and the later ones need not look again
    reports = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(_prescan, paths[0]) if paths else None
        for i, path in enumerate(paths):
            scan = upcoming.result() if upcoming else None
            upcoming = pool.submit(_prescan, paths[i + 1]) if i + 1 < len(paths) else None
            reports.append(_load_file(con, path, ingest, mapping_name, None, scan, pending))
            if not reports[-1].already_loaded:
                pending = ()
    _refuse_unreplaced(con, reports, replaced)
    return reports


def _prescan(path: Path) -> FileScan | None:
    """:func:`scan_file` ahead of the load; None when it fails (the load scans again and reports why)."""
    try:
        return scan_file(path, probe=file_format(path) == "csv") if path.is_file() else None
    except OSError:
        return None
