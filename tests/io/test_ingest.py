"""Dispensing ingest: mappings, rejects with file/line/column, the ledger, privacy, transactions."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import duckdb
import pytest

from turnover import schema
from turnover.io import ingest
from turnover.io.ingest import IngestError, load_dispensing_file
from turnover.io.warehouse import connect
from turnover.settings import ColumnMapping, IngestSettings, load_settings

HEADER = "dispensed_at,location_id,drug_id,quantity,patient_name\n"


@pytest.fixture
def settings():
    return load_settings(Path(__file__).resolve().parents[2] / "turnover.toml")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def counts(con) -> tuple[int, int, int]:
    return tuple(con.execute(f"select count(*) from {t}").fetchone()[0]
                 for t in (schema.DISPENSING, schema.DISPENSING_REJECTS, schema.LOADED_FILES))


def test_bad_rows_are_rejected_with_line_column_and_reason_while_good_rows_load(con, settings, tmp_path):
    path = write(tmp_path / "mixed.csv", HEADER + "\n".join([
        "2024-01-02,S1,0004-0800-85,10,Ann",   # line 2: good, NDC normalised
        "2024-01-03,S1,D2,abc,Bob",            # line 3: quantity not a number
        "2024-13-45,S1,D2,5,Cy",               # line 4: not a date
        "2024-01-04,,D2,5,Di",                 # line 5: empty location
        "2024-01-05,S1,D2,-3.5,Ed",            # line 6: good (a return, fractional)
        "2024-01-06,S1,D2,1e9,Fa",             # line 7: implausible quantity
        "2024-01-07,S1,D2,nan,Gi",             # line 8: not finite
    ]) + "\n")
    report = load_dispensing_file(con, path, settings.ingest)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (7, 2, 5)
    rejects = con.execute(f"select line, column_name, reason from {schema.DISPENSING_REJECTS} order by line").fetchall()
    assert rejects == [
        (3, "quantity", "not a number"),
        (4, "dispensed_at", "not a date in any accepted format"),
        (5, "location_id", "empty location"),
        (7, "quantity", "beyond the plausible bound of 100000.0 units"),
        (8, "quantity", "not a finite number"),
    ]
    loaded = con.execute(f"select line, drug_id, quantity from {schema.DISPENSING} order by line").fetchall()
    assert loaded == [(2, "00004080085", 10.0), (6, "D2", -3.5)]


def test_structurally_broken_lines_are_rejected_and_later_lines_keep_their_true_numbers(con, settings, tmp_path):
    path = write(tmp_path / "ragged.csv", HEADER + "\n".join([
        "2024-01-02,S1,D1,1,A",
        "2024-01-02,S1,D1,2,A,surplus",  # line 3: too many columns
        "2024-01-03,S1,D1,3,A",
        "2024-01-03,S1",                 # line 5: too few
        "2024-01-04,S1,D1,x,A",          # line 6: bad quantity
    ]) + "\n")
    report = load_dispensing_file(con, path, settings.ingest)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (5, 2, 3)
    assert con.execute(f"select line from {schema.DISPENSING} order by line").fetchall() == [(2,), (4,)]
    assert [r[0] for r in con.execute(f"select line from {schema.DISPENSING_REJECTS} order by line").fetchall()] == [3, 5, 6]


def test_loading_the_same_file_twice_changes_nothing(con, settings, tmp_path):
    path = write(tmp_path / "a.csv", HEADER + "2024-01-02,S1,D1,1,A\n2024-01-02,S1,D1,zz,A\n")
    first = load_dispensing_file(con, path, settings.ingest)
    before = counts(con)
    again = load_dispensing_file(con, path, settings.ingest)
    assert again.already_loaded and "nothing changed" in again.summary()
    assert counts(con) == before == (1, 1, 1)
    assert (again.rows_loaded, again.rows_rejected) == (first.rows_loaded, first.rows_rejected)


def test_patient_and_prescriber_columns_never_reach_the_warehouse(con, settings, tmp_path):
    path = write(tmp_path / "rx.csv", "Rx Number,Fill Date,Store,NDC,Drug Description,Qty Dispensed,Patient Name,Patient DOB,Prescriber NPI\n"
                 "RX1,01/15/2024,S9,50090-219-01,Amoxicillin,30,Jane Q Patient,04/01/1950,1234567893\n")
    report = load_dispensing_file(con, path, settings.ingest)
    assert report.mapping == "rxsys" and report.rows_loaded == 1
    assert set(report.ignored_columns) == {"Rx Number", "Patient Name", "Patient DOB", "Prescriber NPI"}
    # Every stored text value except the file's own identity (its path and hash).
    dump = " ".join(
        v for t in (schema.DISPENSING, schema.DISPENSING_REJECTS, schema.LOADED_FILES)
        for row in con.execute(f"select * from {t}").fetchall()
        for v in row if isinstance(v, str) and v not in (str(path), report.file_sha256)
    )
    for secret in ("Jane Q Patient", "04/01/1950", "1234567893", "RX1"):
        assert secret not in dump
    assert con.execute(f"select drug_id, cast(dispensed_at as date)::varchar from {schema.DISPENSING}").fetchone() == ("50090021901", "2024-01-15")


def test_a_wide_export_becomes_one_row_per_drug_and_day(con, settings, tmp_path):
    path = write(tmp_path / "wide.csv", "datum,M01AB,M01AE,N02BA,N02BE,N05B,N05C,R03,R06,Year\n"
                 "1/2/2014,0,3.67,3.4,32.4,7,0,0,2,2014\n1/3/2014,8,4,4.4,50.6,16,0,,4,2014\n")
    report = load_dispensing_file(con, path, settings.ingest)
    assert report.mapping == "pharma_sales_daily"
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (16, 15, 1)
    assert con.execute(f"select line, column_name, reason from {schema.DISPENSING_REJECTS}").fetchone() == (3, "quantity", "empty quantity")
    assert con.execute(f"select sum(quantity) from {schema.DISPENSING} where drug_id = 'N02BE'").fetchone()[0] == pytest.approx(83.0)


def test_parquet_and_gzip_csv_load_like_csv(con, settings, tmp_path):
    raw = duckdb.connect()
    raw.execute("create table t as select date '2024-01-02' + i::int as dispensed_at, 'S1' as location_id, "
                "'D1' as drug_id, 1.5 as quantity from range(10) r(i)")
    raw.table("t").write_parquet(str(tmp_path / "a.parquet"))
    raw.close()
    assert load_dispensing_file(con, tmp_path / "a.parquet", settings.ingest).rows_loaded == 10
    with gzip.open(tmp_path / "b.csv.gz", "wt") as handle:
        handle.write(HEADER + "2024-02-01,S1,D1,2,A\n")
    assert load_dispensing_file(con, tmp_path / "b.csv.gz", settings.ingest).rows_loaded == 1


def test_a_file_without_a_required_column_is_refused_naming_file_and_column(con, settings, tmp_path):
    path = write(tmp_path / "nodrug.csv", "dispensed_at,location_id,quantity\n2024-01-02,S1,1\n")
    with pytest.raises(IngestError, match=r"nodrug\.csv: missing required column\(s\) \['drug_id'\]"):
        load_dispensing_file(con, path, settings.ingest)
    assert counts(con) == (0, 0, 0)


def test_a_load_that_fails_midway_leaves_nothing_behind(con, settings, tmp_path, monkeypatch):
    path = write(tmp_path / "a.csv", HEADER + "2024-01-02,S1,D1,1,A\n")

    def explode(*args, **kwargs):
        con.execute(f"insert into {schema.DISPENSING} select 99, 1, now(), 'S', 'D', 1, null, null")
        raise OSError("disk full")

    monkeypatch.setattr(ingest, "_commit_load", explode)
    with pytest.raises(OSError):
        load_dispensing_file(con, path, settings.ingest)
    assert counts(con) == (0, 0, 0)


def test_a_mapping_that_lacks_a_required_canonical_column_is_refused_at_configuration():
    with pytest.raises(ValueError, match="columns lacks"):
        ColumnMapping(name="bad", columns={"dispensed_at": "Date", "drug_id": "NDC"})
    assert IngestSettings().all_mappings()[-1].name == "canonical"


# Rows of every kind a typed Parquet column can bring (k: the row); typed as given, then the same values as text.
TYPED_ROWS = """select * from (values
    (1, timestamp '2024-01-02 09:30:15.25', 'S1', 'D1', 2.5),
    (2, null, 'S1', 'D1', 1.0),
    (3, timestamp '1989-12-31 23:59:59', 'S1', 'D1', 1.0),
    (4, timestamp '2031-01-01 00:00:00', 'S1', 'D1', 1.0),
    (5, timestamp '2024-01-03 00:00:00', 'S1', 'D2', null),
    (6, timestamp '2024-01-03 00:00:00', 'S1', 'D2', 'nan'::double),
    (7, timestamp '2024-01-03 00:00:00', 'S1', 'D2', 'inf'::double),
    (8, timestamp '2024-01-03 00:00:00', 'S1', 'D2', 1e12),
    (9, timestamp '2024-01-04 00:00:00', 'S-é', 'D3', -1.0),
    (10, timestamp '2024-01-04 00:00:00', 'S1', 'D' || chr(0), 1.0),
    (11, timestamp '2024-01-04 00:00:00', ' S1 ', '00093-6896-15', 0.0)
) t(k, dispensed_at, location_id, drug_id, quantity)"""


@pytest.mark.parametrize("typed", [
    "select k, dispensed_at, location_id, drug_id, quantity from rows",
    "select k, dispensed_at::date as dispensed_at, location_id, drug_id, "
    "case when isfinite(quantity) then quantity::bigint end as quantity from rows",
], ids=["timestamp and double", "date and bigint"])
def test_a_parquet_export_with_typed_dates_and_quantities_loads_and_rejects_as_its_text_does(settings, tmp_path, typed):
    # Typed columns are read as they are, no longer as text parsed back: the rows loaded and the rejects (their
    # reasons, and the fields as read) are the same as those of the same values written as text.
    raw = duckdb.connect()
    raw.execute(f"create table rows as {TYPED_ROWS}")
    raw.execute(f"copy ({typed} order by k) to '{tmp_path / 'typed.parquet'}' (format parquet)")
    raw.execute(f"copy (select k, dispensed_at::varchar as dispensed_at, location_id, drug_id, quantity::varchar "
                f"as quantity from ({typed}) order by k) to '{tmp_path / 'text.parquet'}' (format parquet)")
    raw.close()
    loaded = []
    for name in ("typed.parquet", "text.parquet"):
        con = connect(tmp_path / f"{name}.duckdb")
        try:
            report = load_dispensing_file(con, tmp_path / name, settings.ingest, today=date(2024, 12, 1))
            loaded.append((
                (report.rows_read, report.rows_loaded, report.rows_rejected, report.suspect_ndcs),
                con.execute(f"select * exclude (file_id) from {schema.DISPENSING} order by line").fetchall(),
                con.execute(f"select * exclude (file_sha256, file_path) from {schema.DISPENSING_REJECTS} "
                            "order by line").fetchall(),
            ))
        finally:
            con.close()
    assert loaded[0] == loaded[1]
    assert loaded[0][0][:3] == (11, 3, 8) and [row[0] for row in loaded[0][2]] == [2, 3, 4, 5, 6, 7, 8, 10]
