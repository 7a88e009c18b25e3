"""Catalog and on-hand snapshots: validation names file, line and column; loads replace."""

import pytest

from turnover import schema
from turnover.io.ingest import IngestError
from turnover.io.reference import load_catalog, load_on_hand

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
