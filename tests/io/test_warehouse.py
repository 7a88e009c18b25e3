"""What ``--db`` may name: a turnover warehouse, or a new ``.duckdb`` / ``.db`` file that becomes one."""

from __future__ import annotations

import duckdb
import pytest

from tests.io.accounting import assert_accounted
from turnover.io import warehouse
from turnover.io.ingest import load_dispensing
from turnover.io.warehouse import WarehouseError, connect, hold, lock_path, open_warehouse
from turnover.settings import IngestSettings


def tables(path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
    finally:
        con.close()


def test_a_csv_given_as_the_warehouse_is_refused_and_left_untouched_without_a_lock(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("dispensed_at,location_id,drug_id,quantity\n2026-01-05,S1,D1,3\n")
    before = export.read_bytes()
    for opening in (lambda: connect(export), lambda: hold(export).__enter__()):
        with pytest.raises(WarehouseError, match=r"export\.csv is not a DuckDB database"):
            opening()
    assert export.read_bytes() == before and not lock_path(export).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_a_new_file_not_named_duckdb_or_db_is_not_created(tmp_path):
    with pytest.raises(WarehouseError, match=r"new\.csv.*\*\.duckdb or \*\.db"):
        connect(tmp_path / "new.csv")
    assert not list(tmp_path.iterdir())


def test_another_programs_duckdb_file_is_refused_before_anything_is_written_into_it(tmp_path):
    other = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(other))
    con.execute("create table sales (day date, amount double)")
    con.close()
    with pytest.raises(WarehouseError, match=r"not a turnover warehouse \(it holds main\.sales\)"):
        connect(other)
    assert tables(other) == {"main.sales"}


def test_a_new_warehouse_is_marked_with_its_version(tmp_path):
    with open_warehouse(tmp_path / "w.duckdb") as con:
        assert con.execute(f"select version from {warehouse.MARKER}").fetchall() == [(warehouse.SCHEMA_VERSION,)]
    with open_warehouse(tmp_path / "w.duckdb") as con:  # marked once
        assert con.execute(f"select count(*) from {warehouse.MARKER}").fetchone() == (1,)


def test_a_warehouse_made_before_the_marker_is_adopted(tmp_path):
    db = tmp_path / "w.db"
    with open_warehouse(db) as con:
        con.execute(f"drop table {warehouse.MARKER}")
    with open_warehouse(db) as con:
        assert con.execute(f"select version, adopted_from from {warehouse.MARKER}").fetchall() == [
            (warehouse.SCHEMA_VERSION, 0)]


def test_a_warehouse_of_a_later_version_is_refused(tmp_path):
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        con.execute(f"update {warehouse.MARKER} set version = ?", [warehouse.SCHEMA_VERSION + 1])
    with pytest.raises(WarehouseError, match="made by a later turnover"):
        connect(db, read_only=True)


def test_a_warehouse_with_damaged_bytes_is_refused_naming_the_file(tmp_path):
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:  # a table big enough that the middle of the file is its data
        con.execute("create table raw.filler as select range as a, 'x' || range as b, range * 0.5 as c from range(1000000)")
    with open_warehouse(db, read_only=True) as con:
        assert warehouse.verify(con, db) > 20
    size = db.stat().st_size
    with open(db, "r+b") as handle:  # 16 spots across the file's middle: the table's data fills most of it
        for k in range(16):
            handle.seek(int(size * (0.2 + 0.7 * k / 16)))
            handle.write(bytes(range(256)) * 16)
    with open_warehouse(db, read_only=True) as con, pytest.raises(
            WarehouseError, match=rf"warehouse {db} is damaged \(table raw\.filler: .*checksum.*\); restore it"):
        warehouse.verify(con, db)



# raw.dispensing as warehouse version 1 had it: each row keyed by its file's sha256 (version 2 keys it by file_id).
V1_DISPENSING = """create table raw.dispensing (
    file_sha256 varchar not null, line bigint not null, dispensed_at timestamp not null, location_id varchar not null,
    drug_id varchar not null, quantity double not null, drug_name varchar, ndc varchar)"""


def dispensing_columns(db) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [c for (c,) in con.execute("select column_name from duckdb_columns() where schema_name = 'raw' "
                                          "and table_name = 'dispensing' order by column_index").fetchall()]
    finally:
        con.close()


def as_version_1(db) -> None:
    """Give the warehouse ``db`` the layout of version 1, its rows kept."""
    con = duckdb.connect(str(db))
    try:
        con.execute("create table raw.kept as select f.file_sha256, d.* exclude (file_id) "
                    "from raw.dispensing d join raw.loaded_files f using (file_id)")
        con.execute("drop table raw.dispensing")
        con.execute(V1_DISPENSING)
        con.execute("insert into raw.dispensing select * from raw.kept")
        con.execute("drop table raw.kept")
        con.execute("alter table raw.loaded_files drop column file_id")
        con.execute(f"update {warehouse.MARKER} set version = 1")
    finally:
        con.close()


def test_a_version_1_warehouse_keyed_by_sha256_is_migrated_and_loads_re_sends_and_new_files(tmp_path):
    ingest = IngestSettings()
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    week = "dispensed_at,location_id,drug_id,quantity\n" + "".join(
        f"2024-11-0{d},S1,{drug},{d}\n" for drug in ("D1", "D2") for d in range(2, 9))
    first, other = tmp_path / "a" / "week.csv", tmp_path / "a" / "other.csv"
    first.write_text(week)
    other.write_text(week.replace(",S1,", ",S2,"))
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_dispensing(con, [first, other], ingest)
        before = con.execute("select f.file_sha256, d.* exclude (file_id) from raw.dispensing d "
                             "join raw.loaded_files f using (file_id) order by all").fetchall()
    as_version_1(db)
    assert "file_sha256" in dispensing_columns(db)
    with open_warehouse(db) as con:
        assert con.execute(f"select version, adopted_from from {warehouse.MARKER} order by version").fetchall() == [
            (1, None), (warehouse.SCHEMA_VERSION, 1)]
        assert con.execute("select file_path, file_id from raw.loaded_files order by file_id").fetchall() == [
            (str(first), 1), (str(other), 2)]
        assert con.execute("select f.file_sha256, d.* exclude (file_id) from raw.dispensing d "
                           "join raw.loaded_files f using (file_id) order by all").fetchall() == before
        again = load_dispensing(con, [first], ingest)[0]  # the same bytes: skipped by the ledger
        assert again.already_loaded
        resent = tmp_path / "b" / "week.csv"  # a corrected re-send of D1 and a new store
        resent.write_text(week.replace(",D2,", ",D3,"))
        third = tmp_path / "b" / "store3.csv"
        third.write_text(week.replace(",S1,", ",S3,"))
        reports = load_dispensing(con, [resent, third], ingest)
        assert reports[0].rows_replaced == 7 and reports[0].rows_loaded == 14 and reports[1].rows_loaded == 14
        assert con.execute("select file_id from raw.loaded_files order by file_id").fetchall() == [(1,), (2,), (3,), (4,)]
        assert con.execute("select location_id, drug_id, count(*) from raw.dispensing group by all order by all"
                           ).fetchall() == [("S1", "D1", 7), ("S1", "D2", 7), ("S1", "D3", 7), ("S2", "D1", 7),
                                            ("S2", "D2", 7), ("S3", "D1", 7), ("S3", "D2", 7)]
        assert_accounted(con)
    assert dispensing_columns(db) == ["file_id", "line", "dispensed_at", "location_id", "drug_id", "quantity",
                                      "drug_name", "ndc"]  # as a new warehouse has them
