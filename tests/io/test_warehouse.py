"""What ``--db`` may name: a turnover warehouse, or a new ``.duckdb`` / ``.db`` file that becomes one."""

from __future__ import annotations

import duckdb
import pytest

from turnover.io import warehouse
from turnover.io.warehouse import WarehouseError, connect, hold, lock_path, open_warehouse


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

