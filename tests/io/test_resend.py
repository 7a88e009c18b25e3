"""Several exports of one store and days (issue 15): what is sent again is replaced or rejected, per location x
drug x day, and nothing else; ``replaces`` says outright which earlier file a new one replaces.

The one-file-twice, rolling-window and same-name re-send basics are in ``test_bad_input_catalogue.py``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import make_settings
from tests.io.accounting import assert_accounted, table_counts
from turnover import pipeline, schema
from turnover.io.ingest import IngestError, load_dispensing, load_dispensing_file
from turnover.settings import IngestSettings

LOAD_DAY = date(2024, 12, 1)
HEADER = "dispensed_at,location_id,drug_id,quantity\n"
NOV_2_TO_8 = [f"2024-11-0{d}" for d in range(2, 9)]


@pytest.fixture
def ingest():
    return IngestSettings()


def write(path: Path, drugs: list[str], days: list[str] = NOV_2_TO_8, store: str = "S1", quantity: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{day},{store},{drug},{quantity}\n" for drug in drugs for day in days))
    return path


def loaded_drugs(con) -> dict[str, int]:
    return dict(con.execute(f"select drug_id, count(*) from {schema.DISPENSING} group by 1 order by 1").fetchall())


def test_a_same_name_export_of_other_drugs_for_the_same_days_replaces_nothing(con, ingest, tmp_path):
    # The reproduction: b/export.csv (a till's D9) is not a corrected re-send of a/export.csv (D1-D3).
    load_dispensing_file(con, write(tmp_path / "a" / "export.csv", ["D1", "D2", "D3"]), ingest, today=LOAD_DAY)
    report = load_dispensing_file(con, write(tmp_path / "b" / "export.csv", ["D9"]), ingest, today=LOAD_DAY)
    assert report.replaced_files == () and (report.rows_loaded, report.rows_rejected) == (7, 0), report.summary()
    assert "replaced" not in report.summary()
    assert loaded_drugs(con) == {"D1": 7, "D2": 7, "D3": 7, "D9": 7}
    assert table_counts(con)[1] == 0
    assert_accounted(con)


def test_rx_and_otc_exports_of_one_store_with_date_only_times_both_load(con, ingest, tmp_path):
    # The second reproduction: dates without a time are all at midnight, yet other drugs are not "within".
    load_dispensing_file(con, write(tmp_path / "store1_rx.csv", ["D1", "D2"], NOV_2_TO_8[:2]), ingest, today=LOAD_DAY)
    report = load_dispensing_file(con, write(tmp_path / "store1_otc.csv", ["D9", "D10"], NOV_2_TO_8[:2]), ingest,
                                  today=LOAD_DAY)
    assert (report.rows_loaded, report.rows_rejected, report.rows_overlapping) == (4, 0, 0), report.summary()
    assert "already loaded" not in report.summary()
    assert_accounted(con)


def test_date_only_rows_of_a_drug_and_day_loaded_before_are_rejected_and_other_drugs_load(con, ingest, tmp_path):
    first = write(tmp_path / "rx.csv", ["D1"], NOV_2_TO_8[:3])
    load_dispensing_file(con, first, ingest, today=LOAD_DAY)
    # A rolling export: D1 of Nov 2-3 again, and its new day Nov 5; D9 on days D1 was loaded.
    second = tmp_path / "rx_last7.csv"
    second.write_text(HEADER + "2024-11-02,S1,D1,1\n2024-11-03,S1,D1,1\n2024-11-05,S1,D1,1\n2024-11-02,S1,D9,4\n")
    report = load_dispensing_file(con, second, ingest, today=LOAD_DAY)
    assert (report.rows_loaded, report.rows_overlapping) == (2, 2), report.summary()
    assert f"2 rejected rows already loaded from {first}" in report.summary()
    rejected = con.execute(f"select line, reason from {schema.DISPENSING_REJECTS} order by line").fetchall()
    assert [line for line, _ in rejected] == [2, 3]
    assert all(reason.startswith(f"already loaded from {first} (same location, drug, day") for _, reason in rejected)
    assert loaded_drugs(con) == {"D1": 4, "D9": 1}
    assert_accounted(con)


def test_a_same_name_resend_covering_fewer_drugs_replaces_only_those_drugs_rows(con, ingest, tmp_path):
    first = load_dispensing_file(con, write(tmp_path / "in" / "week.csv", ["D1", "D2"]), ingest, today=LOAD_DAY)
    resent = write(tmp_path / "resent" / "week.csv", ["D1"], quantity=3)
    report = load_dispensing_file(con, resent, ingest, today=LOAD_DAY)
    assert report.replaced_files == (str(tmp_path / "in" / "week.csv"),) and report.rows_replaced == 7
    assert (report.rows_loaded, report.rows_rejected) == (7, 0)
    assert (f"replaced 7 rows of {tmp_path / 'in' / 'week.csv'} (a corrected re-send: same file name; "
            "the location x drug x days this file carries)") in report.summary()
    assert con.execute(f"select drug_id, sum(quantity) from {schema.DISPENSING} group by 1 order by 1").fetchall() == [
        ("D1", 21.0), ("D2", 7.0)]
    moved = con.execute(f"select distinct raw_drug_id, reason from {schema.DISPENSING_REJECTS} where file_sha256 = ?",
                        [first.file_sha256]).fetchall()
    assert len(moved) == 1 and moved[0][0] == "D1" and moved[0][1].startswith(f"replaced by corrected re-send {resent}")
    assert con.execute(f"select rows_loaded, rows_rejected from {schema.LOADED_FILES} where file_sha256 = ?",
                       [first.file_sha256]).fetchone() == (7, 7)
    assert_accounted(con)


def test_replaces_moves_every_row_of_a_named_file_of_another_name_to_the_rejects(con, ingest, tmp_path):
    old = write(tmp_path / "store1_2024-11.csv", ["D1", "D2"])
    load_dispensing(con, [old], ingest)
    new = write(tmp_path / "store1_2024-11_fixed.csv", ["D1"], quantity=2)
    (report,) = load_dispensing(con, [new], ingest, replaces=[old])
    assert report.replaced_files == (str(old),) and report.rows_replaced == 14
    assert (report.rows_loaded, report.rows_overlapping) == (7, 0), report.summary()
    assert f"replaced all 14 rows of {old} (--replaces)" in report.summary()
    assert loaded_drugs(con) == {"D1": 7}
    reasons = con.execute(f"select distinct reason from {schema.DISPENSING_REJECTS}").fetchall()
    assert reasons == [(f"replaced by {new} (--replaces)",)]
    assert_accounted(con)
    # A re-run of the same command changes nothing.
    before = table_counts(con)
    (again,) = load_dispensing(con, [new], ingest, replaces=[old])
    assert again.already_loaded and table_counts(con) == before
    assert_accounted(con)


def test_replaces_among_files_loaded_before_is_done_by_the_first_file_that_loads(con, ingest, tmp_path):
    # exports/*.csv with --replaces: the earlier weeks were loaded before and are skipped.
    week1, old = write(tmp_path / "w1.csv", ["D1"]), write(tmp_path / "w2.csv", ["D2"], NOV_2_TO_8[:3])
    load_dispensing(con, [week1, old], ingest)
    fixed = write(tmp_path / "w2_fixed.csv", ["D2"], NOV_2_TO_8[:4])
    reports = load_dispensing(con, [week1, fixed], ingest, replaces=[old])
    assert reports[0].already_loaded and reports[1].rows_replaced == 3 and reports[1].rows_loaded == 4
    assert_accounted(con)


def test_replaces_naming_a_file_never_loaded_refuses_before_anything_loads(con, ingest, tmp_path):
    new = write(tmp_path / "new.csv", ["D1"])
    with pytest.raises(IngestError, match=r"nowhere\.csv: --replaces names a file that was never loaded"):
        load_dispensing(con, [new], ingest, replaces=[tmp_path / "nowhere.csv"])
    assert table_counts(con) == (0, 0, 0)


def test_a_file_loaded_before_cannot_replace_another_afterwards(con, ingest, tmp_path):
    old, new = write(tmp_path / "old.csv", ["D1"]), write(tmp_path / "new.csv", ["D2"])
    load_dispensing(con, [old, new], ingest)
    with pytest.raises(IngestError, match=r"new\.csv: loaded before, so it cannot replace .*old\.csv now"):
        load_dispensing(con, [new], ingest, replaces=[old])
    assert loaded_drugs(con) == {"D1": 7, "D2": 7}


def test_the_pipeline_passes_replaces_down_to_the_load(tmp_path):
    settings = make_settings(tmp_path)
    old, new = write(tmp_path / "old.csv", ["D1"]), write(tmp_path / "new.csv", ["D1"], quantity=2)
    pipeline.load_history(settings, [old])
    (report,) = pipeline.load_history(settings, [new], replaces=[old])
    assert report.replaced_files == (str(old),) and (report.rows_loaded, report.rows_replaced) == (7, 7)


def as_parquet(csv: Path) -> Path:
    """The rows of ``csv`` as a Parquet file beside it (dates and quantities typed: loaded straight, not staged)."""
    parquet = csv.with_suffix(".parquet")
    con = duckdb.connect()
    try:
        con.execute(f"copy (select * from read_csv('{csv}')) to '{parquet}' (format parquet)")
    finally:
        con.close()
    csv.unlink()
    return parquet


def test_parquet_exports_overlapping_resent_or_replacing_earlier_ones_are_checked_as_csv_ones(con, ingest, tmp_path):
    # A Parquet export loads straight into the warehouse unless an earlier file has rows in its days and locations:
    # then it is staged, and the rules apply to it as to a CSV.
    first = as_parquet(write(tmp_path / "a" / "week.csv", ["D1", "D2"], NOV_2_TO_8[:3]))
    assert load_dispensing_file(con, first, ingest, today=LOAD_DAY).rows_loaded == 6
    rolling = tmp_path / "rolling.csv"  # D1 of Nov 2-3 again, its new day Nov 5, and D9 on a day D1 was loaded
    rolling.write_text(HEADER + "2024-11-02,S1,D1,1\n2024-11-03,S1,D1,1\n2024-11-05,S1,D1,1\n2024-11-02,S1,D9,4\n")
    report = load_dispensing_file(con, as_parquet(rolling), ingest, today=LOAD_DAY)
    assert (report.rows_loaded, report.rows_overlapping) == (2, 2), report.summary()
    assert con.execute(f"select line, reason like 'already loaded from {first}%' from {schema.DISPENSING_REJECTS} "
                       "order by line").fetchall() == [(1, True), (2, True)]
    resent = as_parquet(write(tmp_path / "b" / "week.csv", ["D2"], NOV_2_TO_8[:3], quantity=5))
    report = load_dispensing_file(con, resent, ingest, today=LOAD_DAY)
    assert report.replaced_files == (str(first),) and report.rows_replaced == 3 and report.rows_loaded == 3
    fixed = as_parquet(write(tmp_path / "fixed.csv", ["D9"], ["2024-11-02"], quantity=6))
    (report,) = load_dispensing(con, [fixed], ingest, replaces=[rolling.with_suffix(".parquet")])
    assert report.rows_replaced == 2 and report.rows_loaded == 1
    assert con.execute(f"select drug_id, sum(quantity) from {schema.DISPENSING} group by 1 order by 1").fetchall() == [
        ("D1", 3.0), ("D2", 15.0), ("D9", 6.0)]  # the rolling export replaced whole: its D1 of Nov 5 too
    assert_accounted(con)
