"""Catalog and on-hand snapshots: validation names file, line and column; loads replace."""

import pytest

from turnover import schema
from turnover.io.ingest import IngestError
from turnover.io.reference import load_catalog, load_closures, load_on_hand, load_stockouts

CATALOG_HEADER = "drug_id,drug_name,pack_size_units,unit_cost,lead_time_days,shelf_life_days,criticality\n"


def test_a_catalog_loads_with_ndcs_normalised_and_criticality_lower_case(con, tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG_HEADER + "0781-2061-01,Oseltamivir 75 mg,10,3.2,2,1825,Vital\nLOCAL1,Thing,,,,,\n")
    assert load_catalog(con, path) == 2
    rows = con.execute(f"select drug_id, pack_size_units, criticality from {schema.CATALOG} order by 1").fetchall()
    assert rows == [("00781206101", 10.0, "vital"), ("LOCAL1", None, None)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("D1,x,0,1,2,365,vital", "line 2, column pack_size_units: must be > 0"),
        ("D1,x,10,1,-2,365,vital", "line 2, column lead_time_days: must be 0..365 days"),
        ("D1,x,ten,1,2,365,vital", "line 2, column pack_size_units: not a double"),
        ("D1,x,10,1,2,365,sometimes", "line 2, column criticality: must be vital, essential or non-essential"),
    ],
)
def test_a_bad_catalog_value_refuses_the_file_naming_line_and_column(con, tmp_path, row, message):
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG_HEADER + row + "\n")
    with pytest.raises(IngestError, match=message):
        load_catalog(con, path)
    assert con.execute(f"select count(*) from {schema.CATALOG}").fetchone()[0] == 0


def test_duplicate_catalog_drugs_are_refused(con, tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG_HEADER + "D1,a,1,1,1,1,vital\nD1,b,1,1,1,1,vital\n")
    with pytest.raises(IngestError, match=r"duplicate rows for drug_id"):
        load_catalog(con, path)


def test_on_hand_defaults_on_order_to_zero_and_a_new_snapshot_replaces_the_old(con, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("location_id,drug_id,on_hand_units\nS1,D1,5\nS1,D2,7\n")
    second.write_text("location_id,drug_id,on_hand_units,on_order_units\nS1,D1,3,30\n")
    load_on_hand(con, first)
    assert con.execute(f"select sum(on_order_units), count(*) from {schema.ON_HAND}").fetchone() == (0.0, 2)
    load_on_hand(con, second)
    assert con.execute(f"select * from {schema.ON_HAND}").fetchall() == [("S1", "D1", 3.0, 30.0)]


def test_stockout_episodes_load_and_one_ending_before_it_starts_is_refused(con, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("location_id,drug_id,start,end\nS1,50090-219-01,2026-01-05,2026-01-20\n")
    bad.write_text("location_id,drug_id,start,end\nS1,D1,2026-01-05,2026-01-20\nS1,D2,2026-02-05,2026-02-01\n")
    assert load_stockouts(con, good) == 1
    assert con.execute(f"select drug_id from {schema.STOCKOUTS}").fetchone() == ("50090021901",)
    with pytest.raises(IngestError, match=r"bad\.csv: refused \(lines \[3\]: column end: before start\)"):
        load_stockouts(con, bad)
    assert con.execute(f"select count(*) from {schema.STOCKOUTS}").fetchone()[0] == 1  # the old log stays


def test_closures_with_a_blank_location_apply_everywhere(con, tmp_path):
    path = tmp_path / "closures.csv"
    path.write_text("date,location_id\n2026-12-25,\n2026-07-04,S2\n")
    assert load_closures(con, path) == 2
    assert con.execute(f"select count(*) from {schema.CLOSURES} where location_id is null").fetchone()[0] == 1
