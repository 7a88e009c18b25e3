"""Property tests of the row accounting (issue 6): random mixes of good and bad rows, in random dialects.

For any export: rows read = rows loaded + rows rejected; every good row arrives exactly once, on its
own line; every bad row is rejected on its own line; blank lines are neither. And a second export
that repeats whole days of the first adds only its new days.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.io.accounting import assert_accounted
from turnover import schema
from turnover.io.ingest import load_dispensing_file
from turnover.io.warehouse import connect
from turnover.settings import IngestSettings

LOAD_DAY = date(2024, 12, 31)
FIRST_DAY = date(2024, 1, 1)
HEADER = ["dispensed_at", "location_id", "drug_id", "quantity", "drug_name"]
DRUGS = [("0004-0800-85", "00004080085"), ("50090-219-01", "50090021901"), ("00781-2061-1", "00781206101"),
         ("00904585361", "00904585361"), ("AMOX500", "AMOX500"), ("local 7", "local 7")]
QUANTITIES = [("3", 3.0), ("-2", -2.0), ("2.5", 2.5), ("0.25", 0.25), ("1e2", 100.0), ("100000", 100000.0), ("0", 0.0)]
NAMES = ["", "Amoxicillin 500 mg", "Oseltamivir, 75 mg", 'Saline "0.9%"', "Paracétamol", "line\u00a0space"]
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d"]
# Rows that fail one check each: (fields, why). Too many / too few fields are structural.
BAD_ROWS = [
    (["2024-13-45", "S1", "D1", "1", ""], "date"),
    (["", "S1", "D1", "1", ""], "empty date"),
    (["1970-01-01", "S1", "D1", "1", ""], "early date"),
    (["2099-01-01", "S1", "D1", "1", ""], "future date"),
    (["2024-02-01", "", "D1", "1", ""], "empty location"),
    (["2024-02-01", "S1", " ", "1", ""], "empty drug"),
    (["2024-02-01", "S1", "1234-567-8", "1", ""], "malformed NDC"),
    (["2024-02-01", "S1", "5.0090E+10", "1", ""], "scientific notation"),
    (["2024-02-01", "S1", "D1", "ten", ""], "quantity"),
    (["2024-02-01", "S1", "D1", "", ""], "empty quantity"),
    (["2024-02-01", "S1", "D1", "nan", ""], "NaN"),
    (["2024-02-01", "S1", "D1", "1e9", ""], "huge"),
    (["2024-02-01", "S1", "D1", "1", "x", "surplus"], "too many fields"),
    (["2024-02-01", "S1"], "too few fields"),
]


@st.composite
def good_rows(draw):
    day = FIRST_DAY + timedelta(days=draw(st.integers(0, 300)))
    minutes = draw(st.sampled_from([0, 0, 485, 1439]))
    moment = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minutes)
    date_format = draw(st.sampled_from(DATE_FORMATS if minutes == 0 else DATE_FORMATS[1:3]))
    raw_drug, drug_id = draw(st.sampled_from(DRUGS))
    quantity_text, quantity = draw(st.sampled_from(QUANTITIES))
    location = draw(st.sampled_from(["S1", "S2", "STORE-03"]))
    name = draw(st.sampled_from(NAMES))
    fields = [moment.strftime(date_format), location, raw_drug, quantity_text, name]
    return fields, (moment, location, drug_id, quantity, name or None)


@st.composite
def exports(draw):
    """(lines of fields or None for a blank line, expected rows by line, bad lines, dialect)."""
    kinds = draw(st.lists(st.sampled_from(["good", "good", "good", "bad", "blank"]), max_size=40))
    lines: list[list[str] | None] = []
    expected: dict[int, tuple] = {}
    bad: set[int] = set()
    for kind in kinds:
        line = len(lines) + 2  # the header is line 1
        if kind == "blank":
            lines.append(None)
        elif kind == "good":
            fields, row = draw(good_rows())
            lines.append(fields)
            expected[line] = row
        else:
            lines.append(draw(st.sampled_from(BAD_ROWS))[0])
            bad.add(line)
    truncated = draw(st.sampled_from([None, "2024-03-01,S1,D", '2024-03-01,S1,D1,2,"Amox']))
    dialect = {"delimiter": draw(st.sampled_from([",", ";", "\t"])), "newline": draw(st.sampled_from(["\n", "\r\n"])),
               "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])),
               "gzip": draw(st.booleans())}
    if truncated:
        bad.add(len(lines) + 2)
    return lines, expected, bad, truncated, dialect


def render(lines, truncated, dialect) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=dialect["delimiter"], lineterminator=dialect["newline"])
    writer.writerow(HEADER)
    for fields in lines:
        if fields is None:
            out.write(dialect["newline"])
        else:
            writer.writerow(fields)
    if truncated:
        out.write(truncated.replace(",", dialect["delimiter"]))
    data = out.getvalue().encode(dialect["encoding"])
    return gzip.compress(data) if dialect["gzip"] else data


def loaded_rows(con) -> Counter:
    return Counter(con.execute(
        f"select line, dispensed_at, location_id, drug_id, quantity, drug_name from {schema.DISPENSING}").fetchall())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports())
def test_every_good_row_arrives_once_on_its_line_and_every_bad_row_is_rejected_on_its_line(export):
    lines, expected, bad, truncated, dialect = export
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("export.csv.gz" if dialect["gzip"] else "export.csv")
        path.write_bytes(render(lines, truncated, dialect))
        con = connect(":memory:")
        try:
            report = load_dispensing_file(con, path, IngestSettings(), today=LOAD_DAY)
            assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (
                len(expected) + len(bad), len(expected), len(bad))
            assert loaded_rows(con) == Counter((line, *row) for line, row in expected.items())
            rejected = [r[0] for r in con.execute(f"select line from {schema.DISPENSING_REJECTS}").fetchall()]
            assert sorted(rejected) == sorted(bad)
            assert_accounted(con, report)
        finally:
            con.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(good_rows(), min_size=1, max_size=30), st.lists(good_rows(), max_size=15), st.data())
def test_a_second_export_repeating_whole_days_adds_only_its_new_days(first_rows, more_rows, data):
    def day_of(row):
        return row[1][1], row[1][0].date()

    first_days = {day_of(r) for r in first_rows}
    repeated = set(data.draw(st.lists(st.sampled_from(sorted(first_days)), unique=True)))
    new_rows = [r for r in more_rows if day_of(r) not in first_days]
    second_rows = [r for r in first_rows if day_of(r) in repeated] + new_rows
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(":memory:")
        try:
            for name, rows in (("first.csv", first_rows), ("second.csv", second_rows)):
                dialect = {"delimiter": ",", "newline": "\n", "encoding": "utf-8", "gzip": False}
                (Path(tmp) / name).write_bytes(render([fields for fields, _ in rows], None, dialect))
                report = load_dispensing_file(con, Path(tmp) / name, IngestSettings(), today=LOAD_DAY)
                assert_accounted(con, report)
            if not report.already_loaded:  # the same bytes as the first file: skipped whole
                assert report.rows_overlapping == len(second_rows) - len(new_rows)
            stored = Counter(r[1:] for r in loaded_rows(con).elements())
            assert stored == Counter(row for _, row in first_rows + new_rows)
        finally:
            con.close()
