"""Loading the optional reference files: catalog, on hand (by lot or not), stockouts, closures, recalls,
shortages.

Both are snapshots: a load replaces the table in one transaction. Reference data is curated by
people, so a bad value refuses the whole file with a message naming file, line and column,
rather than loading part of a catalog that purchasing would then trust.

Defaults where a file or a value is absent (documented in the README):
catalog: ``pack_size_units`` = ``policy.default_pack_size_units``, ``lead_time_days`` =
``policy.default_lead_time_days``, ``criticality`` = ``policy.default_criticality``, ``drug_name``
from the dispensing export; on hand: ``on_hand_units`` = 0 and ``on_order_units`` = 0.

The on-hand file comes in two shapes, told apart by its header: a snapshot per location x drug
(``location_id, drug_id, on_hand_units[, on_order_units]``), or stock by lot (``location_id, drug_id,
lot, expiry_date, units[, on_order_units]``; the on-order units of a drug are summed over its rows).
Either way ``ref.on_hand_lots`` holds the lots (a snapshot row is one lot with no number or expiry)
and ``ref.on_hand`` the totals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from turnover import schema
from turnover.io.csv_files import CsvText, csv_text, duckdb_csv_error, refuse_repeated
from turnover.io.fda import read_recalls, read_shortages
from turnover.io.ingest import IngestError, file_format, parquet_header
from turnover.io.staging import build_lines, csv_reader
from turnover.io.text import printable
from turnover.io.warehouse import file_sha256, quote_identifier, transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnCheck:
    """One column of a reference file: how to type it and when a value is refused."""

    name: str
    sql_type: str
    required: bool = False
    rule: str | None = None  # SQL over the typed value ``{v}``, true when valid
    rule_text: str = ""
    default: str | None = None  # SQL literal used when the value is absent


def _number(name: str, sql_type: str, low: float, high: float, unit: str, *, above_low: bool = False,
            required: bool = False, default: str | None = None) -> ColumnCheck:
    """A number within low..high (above ``low`` if ``above_low``): finite, so that no ``inf``, ``1e308`` or ``nan``
    reaches a par level (``inf`` par, a pack count overflowing to -9223372036854775808, a NaN in a NOT NULL column)."""
    low_rule, span = (f"{{v}} > {low}", f"above {low:,} and at most {high:,}") if above_low else (
        f"{{v}} >= {low}", f"{low:,}..{high:,}")
    return ColumnCheck(name, sql_type, required=required, default=default,
                       rule=f"isfinite({{v}}::double) and {low_rule} and {{v}} <= {high}",
                       rule_text=f"must be {span}{' ' + unit if unit else ''}")


# Plausible bounds of the reference numbers (docs/bad-input.md): wide enough for any real catalog or count.
MAX_PACK_UNITS = 100_000
MAX_UNIT_COST = 1_000_000
MAX_LEAD_TIME_DAYS = 365
MAX_SHELF_LIFE_DAYS = 3_650
MAX_MIN_PAR_UNITS = 1_000_000
MAX_STOCK_UNITS = 10_000_000

CATALOG_CHECKS = (
    ColumnCheck("drug_id", "varchar", required=True),
    ColumnCheck("drug_name", "varchar"),
    _number("pack_size_units", "double", 0, MAX_PACK_UNITS, "units", above_low=True),
    _number("unit_cost", "double", 0, MAX_UNIT_COST, ""),
    _number("lead_time_days", "integer", 0, MAX_LEAD_TIME_DAYS, "days"),
    _number("shelf_life_days", "integer", 1, MAX_SHELF_LIFE_DAYS, "days"),
    ColumnCheck(
        "criticality", "varchar",
        rule="lower({v}) in ('vital', 'essential', 'non-essential')", rule_text="must be vital, essential or non-essential",
    ),
    ColumnCheck("generic_name", "varchar"),
    ColumnCheck("atc_code", "varchar"),
    _number("min_par_units", "double", 0, MAX_MIN_PAR_UNITS, "units"),
)
STOCK_KEY = (ColumnCheck("location_id", "varchar", required=True), ColumnCheck("drug_id", "varchar", required=True))


def _units_check(name: str, required: bool = False, default: str | None = None) -> ColumnCheck:
    """A count of units in stock or on order."""
    return _number(name, "double", 0, MAX_STOCK_UNITS, "units", required=required, default=default)


ON_HAND_CHECKS = (*STOCK_KEY, _units_check("on_hand_units", required=True), _units_check("on_order_units", default="0"))
LOT_CHECKS = (
    *STOCK_KEY,
    ColumnCheck("lot", "varchar", required=True),
    ColumnCheck("expiry_date", "date"),
    _units_check("units", required=True),
    _units_check("on_order_units", default="0"),
)
STOCKOUT_CHECKS = (
    *STOCK_KEY,
    ColumnCheck("start", "date", required=True),
    ColumnCheck("end", "date", required=True),
)
CLOSURE_CHECKS = (
    ColumnCheck("date", "date", required=True),
    ColumnCheck("location_id", "varchar"),
)
ID_COLUMNS = {"drug_id"}
TYPE_NAMES = {"double": "number", "integer": "whole number"}  # in "not a ..."


def _typed_select(checks: tuple[ColumnCheck, ...], header: list[str]) -> tuple[str, str]:
    """SQL expressions for the typed columns and for the first failing check of a row."""
    typed, failures = [], []
    for check in checks:
        if check.name not in header:
            typed.append(f"{check.default or 'null'}::{check.sql_type} as {quote_identifier(check.name)}")
            continue
        text = f"nullif(trim({quote_identifier(check.name)}::varchar), '')"
        value = f"normalize_ndc({text})" if check.name in ID_COLUMNS else f"try_cast({text} as {check.sql_type})"
        alias = quote_identifier(check.name)
        typed.append(f"coalesce({value}, {check.default}) as {alias}" if check.default else f"{value} as {alias}")
        if check.required:
            failures.append(f"when {text} is null then ['{check.name}', 'empty', null]")
        failures.append(f"when {text} is not null and {value} is null then ['{check.name}', "
                        f"'not a {TYPE_NAMES.get(check.sql_type, check.sql_type)}', {text}]")
        if check.rule:
            rule = check.rule.format(v=f"({value})")
            failures.append(f"when {value} is not null and not ({rule}) then ['{check.name}', '{check.rule_text}', "
                            f"{text}]")
    return ", ".join(typed), "case " + " ".join(failures) + " end" if failures else "null"


# The header of a reference file and, for a CSV, its text (:func:`csv_files.csv_text`).
Source = tuple[list[str], CsvText | None]


@contextmanager
def _opened(con, path: Path) -> Iterator[Source]:
    """``path`` opened once: its header and, for a CSV, its text (removed when the block ends).

    Raises:
        IngestError: the file is missing or its header cannot be read.
    """
    if not path.is_file():
        raise IngestError(f"{path}: file not found")
    if file_format(path) == "parquet":
        yield parquet_header(con, path), None
        return
    with csv_text(path) as text:
        yield list(text.columns), text


def _load_reference(con, path: str | Path, kind: str, table: str, checks: tuple[ColumnCheck, ...], key: tuple[str, ...],
                    select: str | None = None, bad_rows: tuple[str, str] | None = None,
                    derived: tuple[str, ...] = (), source: Source | None = None) -> int:
    """Validate a reference file into ``_ref`` and replace ``table`` with it in one transaction.

    ``bad_rows`` is an SQL condition over ``_ref`` that marks a row as refused, and its reason;
    ``derived`` are statements rebuilding tables derived from it, run in the same transaction;
    ``source`` is the file as :func:`_opened` gives it, when the caller opened it already.
    """
    path = Path(path)
    if source is None:
        with _opened(con, path) as opened:
            _stage_reference(con, path, checks, *opened)
    else:
        _stage_reference(con, path, checks, *source)
    return _replace_reference(con, path, kind, table, checks, key, select, bad_rows, derived)


def _stage_reference(con, path: Path, checks: tuple[ColumnCheck, ...], header: list[str], text: CsvText | None) -> None:
    """``_ref``: the file's rows typed by ``checks``, with their line and first failing check."""
    missing = [c.name for c in checks if c.required and c.name not in header]
    if missing:
        raise IngestError(f"{path}: missing required column(s) {missing} (header is {header})")
    refuse_repeated(path, text, [c.name for c in checks])
    typed, failure = _typed_select(checks, header)
    if text is None:
        reader, counter, params = "read_parquet($path, file_row_number = true)", "file_row_number + 1", {"path": str(path)}
    else:
        reader, counter, params = csv_reader(), "row_number() over () + 1", text.reader_params()
    try:
        con.execute(
            f"create or replace temp table _ref as select {counter} as line, {typed}, {failure} as failure "
            f"from {reader}",
            params,
        )
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read: {duckdb_csv_error(exc)}") from exc
    if text is not None and text.blank_lines:
        # DuckDB skips blank lines (a broken line fails the whole file): record k's line from ingest_lines.sql.
        con.execute("create or replace temp table _ingest_skipped as select unnest($blank_lines::bigint[]) as line",
                    {"blank_lines": list(text.blank_lines)})
        build_lines(con, "_ref", header_lines=1)
        con.execute("create or replace temp table _ref as select r.* replace (l.line as line) "
                    "from _ref r join _ingest_lines l on l.k = r.line - 1 order by l.k")
        con.execute("drop table _ingest_lines; drop table _ingest_skipped")


def _replace_reference(con, path: Path, kind: str, table: str, checks: tuple[ColumnCheck, ...], key: tuple[str, ...],
                       select: str | None, bad_rows: tuple[str, str] | None, derived: tuple[str, ...]) -> int:
    bad = con.execute(
        "select line, failure[1], failure[2], failure[3] from _ref where failure is not null order by line limit 5"
    ).fetchall()
    if bad:
        details = "; ".join(f"line {line}, column {col}: {reason}" + ("" if value is None else f" (value {value!r})")
                            for line, col, reason, value in bad)
        raise IngestError(f"{path}: refused ({details})")
    if bad_rows:
        lines = [r[0] for r in con.execute(f"select line from _ref where {bad_rows[0]} order by line limit 5").fetchall()]
        if lines:
            raise IngestError(f"{path}: refused (lines {lines}: {bad_rows[1]})")
    keys = ", ".join(key)
    dupes = con.execute(f"select {keys}, list(line) from _ref group by all having count(*) > 1 limit 5").fetchall()
    if dupes:
        raise IngestError(f"{path}: duplicate rows for {keys}: " + "; ".join(f"{d[:-1]} at lines {d[-1]}" for d in dupes))
    columns = ", ".join(c.name for c in checks)
    with transaction(con):
        con.execute(f"delete from {table}")
        con.execute(f"insert into {table} {select or f'({columns}) select {columns}'} from _ref")
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        for statement in derived:
            con.execute(statement)
        con.execute(
            f"insert into {schema.REFERENCE_FILES} values (?, ?, ?, ?, ?)",
            [kind, file_sha256(path), str(path), datetime.now(), rows],
        )
    con.execute("drop table if exists _ref")
    log.info("%s: loaded %d %s rows", printable(str(path)), rows, kind)
    return rows


def load_catalog(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Replace ``ref.catalog`` with the file's rows; returns the row count.

    Raises:
        IngestError: a bad value (file, line, column named) or duplicate ``drug_id``.
    """
    rows = _load_reference(con, path, "catalog", schema.CATALOG, CATALOG_CHECKS, ("drug_id",))
    con.execute(f"update {schema.CATALOG} set criticality = lower(criticality)")
    return rows


def load_on_hand(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Replace ``ref.on_hand`` with the file's rows (missing ``on_order_units`` = 0); returns the row count.

    Raises:
        IngestError: a bad value (file, line, column named) or a duplicate location x drug.
    """
    path = Path(path)
    with _opened(con, path) as source:
        if "lot" in source[0]:
            return _load_reference(
                con, path, "on_hand_lots", schema.ON_HAND_LOTS, LOT_CHECKS, ("location_id", "drug_id", "lot"),
                select="select location_id, drug_id, lot, expiry_date, units",
                derived=(
                    f"delete from {schema.ON_HAND}",
                    f"insert into {schema.ON_HAND} select location_id, drug_id, sum(units), sum(on_order_units) "
                    "from _ref group by all",
                ),
                source=source,
            )
        return _load_reference(
            con, path, "on_hand", schema.ON_HAND, ON_HAND_CHECKS, ("location_id", "drug_id"),
            derived=(
                f"delete from {schema.ON_HAND_LOTS}",
                f"insert into {schema.ON_HAND_LOTS} select location_id, drug_id, null, null, on_hand_units from _ref",
            ),
            source=source,
        )


def _replace_with_frame(con, path: Path, kind: str, table: str, frame) -> int:
    """Replace ``table`` with ``frame`` (columns in table order) and record the file, in one transaction."""
    columns = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    con.register("_frame", frame[columns])
    try:
        with transaction(con):
            con.execute(f"delete from {table}")
            con.execute(f"insert into {table} select * from _frame")
            con.execute(f"insert into {schema.REFERENCE_FILES} values (?, ?, ?, ?, ?)",
                        [kind, file_sha256(path), str(path), datetime.now(), len(frame)])
    finally:
        con.unregister("_frame")
    log.info("%s: loaded %d %s rows", printable(str(path)), len(frame), kind)
    return len(frame)


def load_recalls(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Replace ``ref.recalls`` with the drug recalls of an openFDA enforcement file (JSON or CSV)."""
    path = Path(path)
    return _replace_with_frame(con, path, "recalls", schema.RECALLS, read_recalls(path))


def load_shortages(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Replace ``ref.shortages`` with an openFDA drug-shortages file (JSON or CSV)."""
    path = Path(path)
    return _replace_with_frame(con, path, "shortages", schema.SHORTAGES, read_shortages(path))


def load_stockouts(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Replace ``ref.stockouts`` (``location_id, drug_id, start, end``, inclusive dates); returns rows.

    Raises:
        IngestError: a bad value, or an episode that ends before it starts (line named).
    """
    return _load_reference(
        con, path, "stockouts", schema.STOCKOUTS, STOCKOUT_CHECKS, ("location_id", "drug_id", '"start"'),
        select='select location_id, drug_id, "start", "end"', bad_rows=('"end" < "start"', "column end: before start"),
    )


def load_closures(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Replace ``ref.closures`` (``date`` and optional ``location_id``; blank = every location)."""
    return _load_reference(
        con, path, "closures", schema.CLOSURES, CLOSURE_CHECKS, ('"date"', "location_id"),
        select='select "date", location_id',
    )


def read_reference(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """A reference table (a ``schema`` constant) as a frame; list columns as Python lists."""
    return con.execute(f"select * from {table}").df()
