"""The bad-input catalogue (issue 6): one small file per case and what ingest does with it.

A case ends one of two ways. The file is refused: an ``IngestError`` whose message starts with the
file's path (and names line and column where one is at fault), and nothing is written. Or the file
loads: bad rows go to ``raw.dispensing_rejects`` with line, column and reason, the rest to
``raw.dispensing``. After every case, every file in the ledger has read = loaded + rejected and the
tables hold exactly those rows (``assert_accounted``).

Fixture files are in ``fixtures/bad_input/`` (byte-exact: encodings and line endings are the point);
gzip, UTF-16 and Parquet files are written into ``tmp_path`` by the case itself. Multi-file cases
(overlaps, re-sends), privacy and reference data have their own tests below the table.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.io.accounting import assert_accounted, table_counts
from turnover import schema
from turnover.io.fda import read_recalls, read_shortages
from turnover.io.ingest import IngestError, load_dispensing_file
from turnover.io.reference import load_catalog, load_on_hand
from turnover.io.text import printable
from turnover.settings import ColumnMapping, load_settings

FIXTURES = Path(__file__).parent / "fixtures" / "bad_input"
REPO = Path(__file__).resolve().parents[2]
LOAD_DAY = date(2024, 6, 30)  # "today" for every load here: fixed, so future dates are future forever
HEADER = "dispensed_at,location_id,drug_id,quantity\n"


@pytest.fixture(scope="module")
def ingest():
    return load_settings(REPO / "turnover.toml").ingest


@dataclass(frozen=True)
class Refused:
    """The file is refused: the message (after the path) matches ``pattern``; nothing is written."""

    pattern: str


@dataclass(frozen=True)
class Loaded:
    """The file loads: (read, loaded, rejected), the rejects as (line, column, reason fragment), and
    optionally the loaded rows as (line, drug_id, quantity) and a fragment of the summary line."""

    counts: tuple[int, int, int]
    rejects: tuple[tuple[int, str | None, str], ...] = ()
    rows: tuple[tuple[int, str, float], ...] | None = None
    summary: str = ""


def fixture(name: str) -> Callable[[Path], Path]:
    return lambda tmp_path: FIXTURES / name


def written(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        (tmp_path / name).write_bytes(data)
        return tmp_path / name
    return build


def gzipped(data: bytes, cut: int | None = None) -> Callable[[Path], Path]:
    return written("export.csv.gz", gzip.compress(data)[:cut])


def parquet(select: str, name: str = "export.parquet") -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        con = duckdb.connect()
        con.execute(f"copy ({select}) to '{tmp_path / name}' (format parquet)")
        con.close()
        return tmp_path / name
    return build


GOOD = (HEADER + "2024-01-02,S1,D1,1\n2024-01-03,S1,D1,2\n").encode()
NOT_A_NUMBER = "not a number"

CASES: dict[str, tuple[Callable[[Path], Path], Refused | Loaded]] = {
    # --- files -------------------------------------------------------------------------------------
    "empty file": (fixture("empty.csv"), Refused(r"empty file \(no header line\)")),
    "header only": (fixture("header_only.csv"), Loaded((0, 0, 0))),
    "blank first line": (fixture("blank_header_line.csv"), Refused(r"line 1 is blank")),
    "missing required column": (fixture("missing_drug_id.csv"), Refused(r"missing required column\(s\) \['drug_id'\]")),
    "unknown extra columns are ignored and listed": (
        fixture("extra_columns.csv"),
        Loaded((2, 2, 0), summary="columns not read: notes, Patient Name, Prescriber NPI"),
    ),
    "terminal escape sequences in header names are shown escaped": (
        written("export.csv", b"dispensed_at,location_id,drug_id,quantity,\x1b]0;title\x07notes,\x1b[31mred\x9b\x7f\n"
                              b"2024-01-02,S1,D1,1,x,y\n"),
        Loaded((1, 1, 0), summary="columns not read: \\x1b]0;title\\x07notes, \\x1b[31mred\\x9b\\x7f"),
    ),
    "duplicated header on a column that is read": (
        fixture("duplicated_read_column.csv"), Refused(r"line 1: column\(s\) \['quantity'\] appear more than once"),
    ),
    "duplicated header on a column that is not read": (
        fixture("duplicated_unread_column.csv"), Loaded((1, 1, 0), summary="columns not read: notes, notes (2)"),
    ),
    "semicolon delimiter is detected": (fixture("semicolon.csv"), Loaded((2, 2, 0), rows=((2, "D1", 1.0), (3, "D1", 2.5)))),
    "tab delimiter is detected": (fixture("tab.txt"), Loaded((1, 1, 0))),
    "unknown delimiter": (fixture("caret_delimited.csv"), Refused(r"missing required column.*is the delimiter")),
    "utf-8 byte-order mark": (fixture("bom.csv"), Loaded((1, 1, 0), rows=((2, "D1", 1.0),))),
    "latin-1 encoding": (fixture("latin1.csv"), Loaded((2, 2, 0), summary="read as latin-1")),
    "utf-16 little-endian with mark": (
        written("u16.csv", "\ufeff".encode("utf-16-le") + GOOD.decode().encode("utf-16-le")),
        Loaded((2, 2, 0), summary="read as utf-16"),
    ),
    "utf-16 big-endian with mark (DuckDB alone reads no rows)": (
        written("u16be.csv", "\ufeff".encode("utf-16-be") + GOOD.decode().encode("utf-16-be")),
        Loaded((2, 2, 0), summary="read as utf-16"),
    ),
    "utf-16 without a mark": (written("u16raw.csv", GOOD.decode().encode("utf-16-le")), Loaded((2, 2, 0))),
    "truncated last line": (
        fixture("truncated_last_line.csv"),
        Loaded((3, 2, 1), rejects=((4, "quantity", "missing columns"),)),
    ),
    "truncated inside a quoted last value": (
        fixture("truncated_in_quote.csv"),
        Loaded((2, 1, 1), rejects=((3, "drug_name", "unterminated quote"),)),
    ),
    "a quote never closed mid-file": (
        fixture("unclosed_quote_mid_file.csv"),
        Refused(r"line 2, column drug_name: a quote opened here is not closed.*lines 2-4"),
    ),
    "blank lines keep the true line numbers": (
        fixture("blank_lines.csv"),
        Loaded((4, 1, 3), rejects=((6, "quantity", NOT_A_NUMBER), (7, "drug_id", "missing columns"),
                                   (9, "quantity", NOT_A_NUMBER)), rows=((3, "D1", 1.0),)),
    ),
    "mixed CRLF, LF and CR line endings": (
        fixture("mixed_line_endings.csv"), Loaded((4, 3, 1), rejects=((5, "quantity", NOT_A_NUMBER),)),
    ),
    "trailing delimiter on every line": (
        fixture("trailing_delimiter.csv"), Loaded((2, 2, 0), summary="columns not read: column5"),
    ),
    "NUL bytes": (fixture("nul_bytes.csv"), Loaded((2, 1, 1), rejects=((3, "quantity", NOT_A_NUMBER),))),
    "gzip-compressed csv": (gzipped(GOOD), Loaded((2, 2, 0))),
    "gzip cut off in transfer": (gzipped(GOOD * 200, cut=60), Refused(r"not a complete gzip file")),
    "cut-off gzip of an empty file (found by the fuzz pass)": (
        written("export.csv.gz", gzip.compress(b"")[:-4]), Refused(r"not a complete gzip file"),
    ),
    "header of a lone CR and a NUL byte (found by the fuzz pass)": (
        written("export.csv", b"\r\x00"), Refused(r"line 1 is blank"),
    ),
    "not gzip despite the name": (written("export.csv.gz", GOOD), Refused(r"not a complete gzip file|cannot read")),
    "parquet with the wrong types": (
        parquet("select 20240102 + i as dispensed_at, 'S1' as location_id, 4080085 as drug_id, "
                "case i when 1 then 'ten' else (i + 0.5)::varchar end as quantity from range(3) r(i)"),
        Loaded((3, 2, 1), rejects=((2, "quantity", NOT_A_NUMBER),), rows=((1, "4080085", 0.5), (3, "4080085", 2.5)),
               summary="7-10 digits only"),
    ),
    "parquet without a required column": (
        parquet("select date '2024-01-02' as dispensed_at, 'S1' as location_id, 1.0 as quantity"),
        Refused(r"missing required column\(s\) \['drug_id'\]"),
    ),
    "not parquet despite the name": (written("export.parquet", GOOD), Refused(r"cannot read as Parquet")),
    # --- values ------------------------------------------------------------------------------------
    "unparseable and empty dates": (
        fixture("unparseable_dates.csv"),
        Loaded((5, 1, 4), rejects=((3, "dispensed_at", "not a date"), (4, "dispensed_at", "not a date"),
                                   (5, "dispensed_at", "not a date"), (6, "dispensed_at", "empty date"))),
    ),
    "mixed date formats in a mapping that lists them": (
        fixture("rxsys_mixed_dates.csv"),
        # ISO, US and US with time load; day-first (17/01) fits no format of the mapping.
        Loaded((4, 3, 1), rejects=((5, "dispensed_at", "not a date"),)),
    ),
    "US dates where the mapping expects ISO": (
        fixture("canonical_us_dates.csv"), Loaded((2, 1, 1), rejects=((3, "dispensed_at", "not a date"),)),
    ),
    "future dates after the load day": (
        fixture("future_dates.csv"),
        # the load day and the next (time-zone slack) load; later ones are rejected
        Loaded((4, 2, 2), rejects=((4, "dispensed_at", "date after the load day"),
                                   (5, "dispensed_at", "date after the load day"))),
    ),
    "dates before any plausible history": (
        fixture("ancient_dates.csv"),
        Loaded((5, 2, 3), rejects=tuple((line, "dispensed_at", "date before 1990-01-01") for line in (3, 4, 5))),
    ),
    "quantities: returns and fractions load, the rest is rejected": (
        fixture("quantities.csv"),
        Loaded(
            (15, 6, 9),
            rejects=((6, "quantity", NOT_A_NUMBER), (7, "quantity", NOT_A_NUMBER), (8, "quantity", "plausible bound"),
                     (9, "quantity", "plausible bound"), (10, "quantity", "not a finite number"),
                     (11, "quantity", "not a finite number"), (12, "quantity", "not a finite number"),
                     (13, "quantity", NOT_A_NUMBER), (14, "quantity", "empty quantity")),
            rows=((2, "D1", 10.0), (3, "D2", -3.0), (4, "D3", 2.5), (5, "D4", -0.25), (15, "D14", 7.0),
                  (16, "D15", 1000.0)),
        ),
    ),
    "blank location and drug ids": (
        fixture("blank_ids.csv"),
        Loaded((5, 1, 4), rejects=((3, "location_id", "empty location"), (4, "drug_id", "empty drug id"),
                                   (5, "location_id", "empty location"), (6, "drug_id", "empty drug id"))),
    ),
    "ids with a NUL byte or another control character (Parquet)": (
        parquet("select * from (values ('2024-01-02', 'S1', 'D1', 1), ('2024-01-03', 'S' || chr(0) || '1', 'D1', 2), "
                "('2024-01-04', 'S1', 'D' || chr(0) || '2', 3), ('2024-01-05', 'S1', chr(0), 4), "
                "('2024-01-06', 'S1', 'D' || chr(27) || '[31m', 5)) t(dispensed_at, location_id, drug_id, quantity)"),
        Loaded((5, 1, 4), rejects=((2, "location_id", "control character in the location id"),
                                   (3, "drug_id", "control character in the drug id"),
                                   (4, "drug_id", "control character in the drug id"),
                                   (5, "drug_id", "control character in the drug id")), rows=((1, "D1", 1.0),)),
    ),
    "an escape sequence in a drug id (CSV; a tab-delimited file is checked too)": (
        written("export.csv", (HEADER + "2024-01-02,S1,D\x1b[31m1,1\n2024-01-02,S1,D2,1\n").encode()),
        Loaded((2, 1, 1), rejects=((2, "drug_id", "control character in the drug id"),)),
    ),
    # --- identifiers -------------------------------------------------------------------------------
    "NDCs in every 10-digit form become 11 digits": (
        fixture("ndc_forms.csv"),
        Loaded((6, 6, 0), rows=((2, "00004080085", 1.0), (3, "50090021901", 1.0), (4, "00781206101", 1.0),
                                (5, "00904585361", 1.0), (6, "00093310905", 1.0), (7, "00004080085", 1.0))),
    ),
    "NDCs whose leading zeros a spreadsheet ate load as given, flagged": (
        fixture("ndc_leading_zeros_lost.csv"),
        Loaded((4, 4, 0), rows=((2, "4080085", 1.0), (3, "781206101", 1.0), (4, "50090021901", 1.0), (5, "AMOX500", 1.0)),
               summary="2 drug ids of 7-10 digits only (NDCs that lost leading zeros or hyphens in a spreadsheet?): "
                       "4080085, 781206101"),
    ),
    "NDCs that cannot be normalised": (
        fixture("ndc_malformed.csv"),
        Loaded((5, 2, 3), rejects=((2, "drug_id", "malformed NDC"), (3, "drug_id", "malformed NDC"),
                                   (4, "drug_id", "scientific notation")),
               rows=((5, "50090-219", 1.0), (6, "50090021901", 1.0))),
    ),
}


@pytest.mark.parametrize(("build", "expected"), CASES.values(), ids=CASES.keys())
def test_each_catalogue_file_is_refused_clearly_or_loads_with_its_rejects(con, ingest, tmp_path, build, expected):
    path = build(tmp_path)
    if isinstance(expected, Refused):
        with pytest.raises(IngestError) as info:
            load_dispensing_file(con, path, ingest, today=LOAD_DAY)
        message = str(info.value)
        assert message.startswith(f"{path}: "), message
        assert re.search(expected.pattern, message), message
        assert table_counts(con) == (0, 0, 0)
        return
    report = load_dispensing_file(con, path, ingest, today=LOAD_DAY)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == expected.counts, report.summary()
    rejects = con.execute(
        f"select line, column_name, reason, file_path from {schema.DISPENSING_REJECTS} order by line").fetchall()
    assert [(line, column) for line, column, _, _ in rejects] == [(line, column) for line, column, _ in expected.rejects]
    for (_, _, reason, file_path), (_, _, fragment) in zip(rejects, expected.rejects, strict=True):
        assert fragment in reason and file_path == str(path)
    if expected.rows is not None:
        rows = con.execute(f"select line, drug_id, quantity from {schema.DISPENSING} order by line").fetchall()
        assert rows == list(expected.rows)
    assert expected.summary in report.summary()
    assert printable(report.summary()) == report.summary(), report.summary()  # no raw control character
    assert_accounted(con, report)


def test_control_characters_in_file_names_and_headers_are_escaped_in_the_load_line_and_in_errors(con, ingest,
                                                                                                  tmp_path):
    named = write(tmp_path / "store\x1b[2J1.csv", ["2024-01-02,S1,D1,1"])
    report = load_dispensing_file(con, named, ingest, today=LOAD_DAY)
    assert report.summary().startswith(f"{tmp_path}/store\\x1b[2J1.csv: read 1, loaded 1"), report.summary()
    refused = write(tmp_path / "bad\x07.csv", ["2024-01-02,S1,1"], header="dispensed_at,location_id,\x1b[8mdrug,quantity\n")
    with pytest.raises(IngestError) as info:
        load_dispensing_file(con, refused, ingest, today=LOAD_DAY)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}/bad\\x07.csv: missing required column(s) ['drug_id']"), message
    assert printable(message) == message, message


def test_printable_escapes_c0_c1_and_del_and_keeps_other_text():
    assert printable("a\x00b\x1b[31mc\x7fd\x85e\x9bf\tg\nh") == "a\\x00b\\x1b[31mc\\x7fd\\x85e\\x9bf\\x09g\\x0ah"
    assert printable("Zürich – Paracétamol ✓") == "Zürich – Paracétamol ✓"


def test_a_latin1_export_keeps_its_accented_text(con, ingest):
    load_dispensing_file(con, FIXTURES / "latin1.csv", ingest, today=LOAD_DAY)
    assert con.execute(f"select location_id, drug_name from {schema.DISPENSING} order by line").fetchall() == [
        ("S1", "Acétaminophène 500 mg"), ("Zürich", "Paracétamol")]


# --- whole files -------------------------------------------------------------------------------------


def write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


WEEK = [f"2024-01-0{d},S1,D1,{d}" for d in range(1, 8)] + [f"2024-01-0{d},S2,D1,1" for d in range(1, 8)]


def test_the_same_file_twice_is_skipped_the_second_time(con, ingest, tmp_path):
    path = write(tmp_path / "week01.csv", WEEK)
    first = load_dispensing_file(con, path, ingest, today=LOAD_DAY)
    before = table_counts(con)
    again = load_dispensing_file(con, path, ingest, today=LOAD_DAY)
    assert again.already_loaded and "already loaded" in again.summary()
    assert table_counts(con) == before and first.rows_loaded == 14
    assert_accounted(con)


def test_the_same_rows_under_another_name_are_rejected_as_already_loaded(con, ingest, tmp_path):
    original = write(tmp_path / "week01.csv", WEEK)
    copy = write(tmp_path / "week01 (1).csv", WEEK + ["2024-01-08,S1,D1,8"])  # one new day
    load_dispensing_file(con, original, ingest, today=LOAD_DAY)
    report = load_dispensing_file(con, copy, ingest, today=LOAD_DAY)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (15, 1, 14)
    assert report.rows_overlapping == 14 and report.overlapping_files == (str(original),)
    assert f"14 rejected rows already loaded from {original}" in report.summary()
    reasons = {r[0] for r in con.execute(f"select reason from {schema.DISPENSING_REJECTS}").fetchall()}
    assert reasons == {f"already loaded from {original} (same location, drug, day and time span); not loaded twice"}
    assert con.execute(f"select sum(quantity) from {schema.DISPENSING}").fetchone()[0] == sum(range(1, 9)) + 7
    assert_accounted(con)


def test_a_rolling_window_export_loads_only_its_new_days(con, ingest, tmp_path):
    monday = write(tmp_path / "last7_0107.csv", [f"2024-01-0{d},S1,D1,1" for d in range(1, 8)])
    tuesday = write(tmp_path / "last7_0108.csv", [f"2024-01-0{d},S1,D1,1" for d in range(2, 9)])
    load_dispensing_file(con, monday, ingest, today=LOAD_DAY)
    report = load_dispensing_file(con, tuesday, ingest, today=LOAD_DAY)
    assert (report.rows_loaded, report.rows_overlapping) == (1, 6)
    assert con.execute(f"select count(*), count(distinct dispensed_at) from {schema.DISPENSING}").fetchone() == (8, 8)
    assert_accounted(con)


def test_two_exports_of_one_day_with_disjoint_times_both_load(con, ingest, tmp_path):
    morning = write(tmp_path / "am.csv", ["2024-01-02 08:10:00,S1,D1,1", "2024-01-02 11:55:00,S1,D2,1"])
    afternoon = write(tmp_path / "pm.csv", ["2024-01-02 12:05:00,S1,D1,1", "2024-01-02 17:30:00,S1,D2,1"])
    load_dispensing_file(con, morning, ingest, today=LOAD_DAY)
    report = load_dispensing_file(con, afternoon, ingest, today=LOAD_DAY)
    assert (report.rows_loaded, report.rows_overlapping) == (2, 0)
    assert_accounted(con)


def test_a_corrected_resend_under_the_same_name_replaces_the_earlier_file(con, ingest, tmp_path):
    inbox, resent = tmp_path / "inbox", tmp_path / "resent"
    inbox.mkdir(), resent.mkdir()
    first = load_dispensing_file(con, write(inbox / "week01.csv", WEEK), ingest, today=LOAD_DAY)
    corrected = [row.replace(",S1,D1,3", ",S1,D1,30") for row in WEEK] + ["2024-01-03,S1,D2,5"]
    report = load_dispensing_file(con, write(resent / "week01.csv", corrected), ingest, today=LOAD_DAY)
    assert report.replaced_files == (str(inbox / "week01.csv"),) and report.rows_replaced == 14
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (15, 15, 0)
    assert f"replaced 14 rows of {inbox / 'week01.csv'} (a corrected re-send" in report.summary()
    # The earlier rows are kept, moved to the rejects with the reason, and its ledger entry says so.
    assert con.execute(f"select sum(quantity) from {schema.DISPENSING}").fetchone()[0] == sum(range(1, 8)) + 27 + 7 + 5
    moved = con.execute(f"select count(*), min(reason) from {schema.DISPENSING_REJECTS} where file_sha256 = ?",
                        [first.file_sha256]).fetchone()
    assert moved[0] == 14 and moved[1].startswith(f"replaced by corrected re-send {resent / 'week01.csv'}")
    assert con.execute(f"select rows_read, rows_loaded, rows_rejected from {schema.LOADED_FILES} where file_sha256 = ?",
                       [first.file_sha256]).fetchone() == (14, 0, 14)
    assert_accounted(con)


def test_a_same_name_export_of_another_week_is_new_data_not_a_resend(con, ingest, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    load_dispensing_file(con, write(tmp_path / "a" / "export.csv", WEEK), ingest, today=LOAD_DAY)
    next_week = [f"2024-01-{d},S1,D1,1" for d in range(10, 15)]
    report = load_dispensing_file(con, write(tmp_path / "b" / "export.csv", next_week), ingest, today=LOAD_DAY)
    assert report.replaced_files == () and report.rows_loaded == 5
    assert con.execute(f"select count(*) from {schema.DISPENSING}").fetchone()[0] == 19
    assert_accounted(con)


def test_a_same_name_resend_that_lacks_a_day_replaces_only_the_days_it_carries(con, ingest, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = load_dispensing_file(con, write(tmp_path / "a" / "week01.csv", WEEK), ingest, today=LOAD_DAY)
    partial = [row for row in WEEK if not row.startswith("2024-01-07,S2")]
    report = load_dispensing_file(con, write(tmp_path / "b" / "week01.csv", partial), ingest, today=LOAD_DAY)
    assert report.rows_replaced == 13 and (report.rows_loaded, report.rows_overlapping) == (13, 0)
    # The day the re-send lacks keeps the earlier file's row.
    assert con.execute(f"select file_sha256, location_id, dispensed_at::date::varchar from {schema.DISPENSING} "
                       f"join {schema.LOADED_FILES} using (file_id) where file_sha256 = ?", [first.file_sha256]
                       ).fetchall() == [
        (first.file_sha256, "S2", "2024-01-07")]
    assert con.execute(f"select count(*) from {schema.DISPENSING}").fetchone()[0] == 14
    assert_accounted(con)


CATALOG_HEADER = "drug_id,drug_name,pack_size_units,unit_cost,lead_time_days,shelf_life_days,criticality\n"


def test_unknown_drugs_load_and_are_named_on_the_report(con, ingest, tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(CATALOG_HEADER + "50090-219-01,Amoxicillin,100,0.1,2,730,essential\n")
    load_catalog(con, catalog)
    report = load_dispensing_file(con, FIXTURES / "unknown_drugs.csv", ingest, today=LOAD_DAY)
    assert report.rows_loaded == 3 and report.drugs_not_in_catalog == ("LOCAL-42",)
    assert "1 drug ids not in the catalog: LOCAL-42" in report.summary()
    assert_accounted(con)


def test_without_a_catalog_no_drug_is_called_unknown(con, ingest):
    report = load_dispensing_file(con, FIXTURES / "unknown_drugs.csv", ingest, today=LOAD_DAY)
    assert report.drugs_not_in_catalog is None and "catalog" not in report.summary()


# --- privacy: identifier columns a mapping names by mistake -------------------------------------------


def mis_mapped(ingest, **columns: str):
    mapping = ColumnMapping(name="misread", columns={"dispensed_at": "Fill Date", "location_id": "Store",
                                                     "drug_id": "NDC", "quantity": "Qty Dispensed", **columns},
                            date_formats=["%m/%d/%Y"])
    return ingest.model_copy(update={"mappings": [mapping]})


def test_an_identifier_column_mapped_as_drug_name_is_dropped_and_reported(con, ingest):
    report = load_dispensing_file(con, FIXTURES / "mis_mapped_identifiers.csv", mis_mapped(ingest, drug_name="Patient Name"),
                                  today=LOAD_DAY)
    assert report.rows_loaded == 1 and report.refused_columns == ("Patient Name (as drug_name)",)
    assert "refused identifier columns a mapping names: Patient Name (as drug_name)" in report.summary()
    assert con.execute(f"select drug_name from {schema.DISPENSING}").fetchone() == (None,)
    assert "Patient Name" in con.execute(f"select ignored_columns from {schema.LOADED_FILES}").fetchone()[0]
    assert_accounted(con)


def test_an_identifier_column_mapped_as_a_required_column_refuses_the_file(con, ingest):
    settings = mis_mapped(ingest).model_copy()
    settings.mappings[0] = settings.mappings[0].model_copy(update={"columns": {
        **settings.mappings[0].columns, "drug_id": "Rx Number"}})
    with pytest.raises(IngestError, match=r"column 'Rx Number' looks like a patient or prescriber identifier.*drug_id"):
        load_dispensing_file(con, FIXTURES / "mis_mapped_identifiers.csv", settings, today=LOAD_DAY)
    assert table_counts(con) == (0, 0, 0)


# --- reference data ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["D1,x,0,1,2,365,vital"], r"line 2, column pack_size_units: must be above 0 and at most 100,000 units"),
        (["D1,x,10,1,-2,365,vital"], r"line 2, column lead_time_days: must be 0\.\.365 days"),
        (["D1,a,1,1,1,1,vital", "D1,b,1,1,1,1,vital"], r"duplicate rows for drug_id: \('D1',\) at lines \[2, 3\]"),
        (["0004-0800-85,a,1,1,1,1,vital", "00004080085,b,1,1,1,1,vital"], r"duplicate rows for drug_id: \('00004080085',\)"),
        (["D1,a,1,1,1,1,vital", "D2,b,1,1,1,1,vital,surplus"], r"cannot read: line 3: Expected Number of Columns: 7 Found: 8"),
        (["", "D1,a,1,1,1,1,vital", "", "", "D2,b,1,1,-1,1,vital"], r"line 6, column lead_time_days"),
    ],
    ids=["pack size 0", "negative lead time", "duplicate drug rows", "duplicate drug after NDC normalisation",
         "ragged line", "blank lines keep the true line numbers"],
)
def test_a_bad_catalog_is_refused_whole_naming_line_and_column(con, tmp_path, rows, message):
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG_HEADER + "".join(f"{r}\n" for r in rows))
    with pytest.raises(IngestError, match=message) as info:
        load_catalog(con, path)
    assert str(info.value).startswith(f"{path}: ")
    assert con.execute(f"select count(*) from {schema.CATALOG}").fetchone()[0] == 0


def test_a_catalog_in_utf16_or_latin1_loads(con, tmp_path):
    text = CATALOG_HEADER + "D1,Paracétamol,10,0.5,2,365,vital\n"
    for name, data in {"u16.csv": "\ufeff".encode("utf-16-le") + text.encode("utf-16-le"),
                       "l1.csv": text.encode("latin-1")}.items():
        (tmp_path / name).write_bytes(data)
        assert load_catalog(con, tmp_path / name) == 1
        assert con.execute(f"select drug_name from {schema.CATALOG}").fetchone() == ("Paracétamol",)


def test_on_hand_by_lot_from_a_gzip_file_loads(con, tmp_path):
    path = tmp_path / "lots.csv.gz"
    path.write_bytes(gzip.compress(b"location_id,drug_id,lot,expiry_date,units\r\nS1,D1,L1,2025-01-31,5\r\n"))
    assert load_on_hand(con, path) == 1


RECALL_SHAPES = {
    "results is not a list": (b'{"results": {"recall_number": "D-1"}}', r"'results' is not a list"),
    "records are strings": (b'["D-1", "D-2"]', r"record 1 has no product_description, classification"),
    "record lacks classification": (b'{"results": [{"product_description": "x"}]}', r"record 1 has no classification"),
    "not valid JSON": (b'{"results": [', r"not valid JSON: line 1"),
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, r"nested too deeply"),
    "csv without the columns": (b"firm,reason\nAcme,dust\n", r"missing column\(s\): product_description"),
    "csv with a ragged line": (b"classification,product_description\nClass II\n", r"line 2: 1 fields where the header has 2"),
    "unreadable date": (b'[{"classification": "Class II", "product_description": "x", "report_date": "soon"}]',
                        r"record 1, column report_date: not a date"),
    "empty file": (b"", r"empty file"),
}


@pytest.mark.parametrize(("data", "message"), RECALL_SHAPES.values(), ids=RECALL_SHAPES.keys())
def test_a_recall_file_of_an_unexpected_shape_is_refused_naming_the_file(tmp_path, data, message):
    path = tmp_path / "enforcement.json"
    path.write_bytes(data)
    with pytest.raises(IngestError, match=message) as info:
        read_recalls(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_cut_off_gzip_recall_file_is_refused_not_a_crash(tmp_path):
    path = tmp_path / "enforcement.json.gz"
    path.write_bytes(gzip.compress(b'{"results": []}' * 200)[:40])
    with pytest.raises(IngestError, match=r"not a complete gzip file"):
        read_recalls(path)


def test_recall_fields_of_unexpected_types_are_read_as_text(tmp_path):
    path = tmp_path / "enforcement.json"
    path.write_text('{"results": [{"recall_number": 5, "classification": ["Class II"], "product_description": '
                    '{"name": "x"}, "openfda": [1, 2], "report_date": 20240101, "extra": {"deep": [1]}}]}')
    recalls = read_recalls(path)
    assert len(recalls) == 1 and recalls.loc[0, "recall_number"] == "event-5"


SHORTAGE_SHAPES = {
    "record without status": (b'{"results": [{"generic_name": "x"}]}', r"record 1 has no status"),
    "csv without package_ndc": (b"generic_name,status\nx,Current\n", r"missing column\(s\): package_ndc"),
    "unreadable date": (b"package_ndc,generic_name,status,update_date\n0004-0800-85,x,Current,13/45/2024\n",
                        r"line 2, column update_date: not a date"),
}


@pytest.mark.parametrize(("data", "message"), SHORTAGE_SHAPES.values(), ids=SHORTAGE_SHAPES.keys())
def test_a_shortage_file_of_an_unexpected_shape_is_refused_naming_the_file(tmp_path, data, message):
    path = tmp_path / "shortages.csv"
    path.write_bytes(data)
    with pytest.raises(IngestError, match=message):
        read_shortages(path)


def test_a_shortage_search_with_no_match_and_a_utf16_csv_read_cleanly(tmp_path):
    empty = tmp_path / "none.json"
    empty.write_text('{"error": {"code": "NOT_FOUND", "message": "No matches found!"}}')
    assert read_shortages(empty).empty
    utf16 = tmp_path / "shortages.csv"
    utf16.write_bytes("package_ndc,generic_name,status\n0004-0800-85,Oseltamivir,Current\n".encode("utf-16"))
    assert read_shortages(utf16).loc[0, "package_ndc"] == "00004080085"


def test_fixture_files_are_byte_exact():
    # git must not rewrite line endings or encodings of the fixtures (see fixtures/bad_input/.gitattributes)
    assert b"\r\n" in (FIXTURES / "mixed_line_endings.csv").read_bytes()
    assert (FIXTURES / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\xe9" in (FIXTURES / "latin1.csv").read_bytes()
