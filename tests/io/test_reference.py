"""Catalog and on-hand snapshots: validation names file, line and column; loads replace."""

import re

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
        ("D1,x,0,1,2,365,vital", r"line 2, column pack_size_units: must be above 0 and at most 100,000 units \(value '0'\)"),
        ("D1,x,10,1,-2,365,vital", "line 2, column lead_time_days: must be 0..365 days"),
        ("D1,x,ten,1,2,365,vital", "line 2, column pack_size_units: not a number"),
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


GOOD_CATALOG = CATALOG_HEADER.rstrip("\n") + ",min_par_units\nD1,Amoxicillin,100,0.1,2,730,essential,5\n"
ON_HAND_HEADER = "location_id,drug_id,on_hand_units,on_order_units\n"
LOTS_HEADER = "location_id,drug_id,lot,expiry_date,units\n"
NON_FINITE = {  # (file kind, column, bad value): the bad value replaces that column of a good file's row
    "pack size inf": ("catalog", "pack_size_units", "inf"),
    "pack size 1e308": ("catalog", "pack_size_units", "1e308"),
    "pack size nan": ("catalog", "pack_size_units", "nan"),
    "pack size of a million units": ("catalog", "pack_size_units", "1000000"),
    "unit cost -inf": ("catalog", "unit_cost", "-inf"),
    "unit cost 1e308": ("catalog", "unit_cost", "1e308"),
    "unit cost nan": ("catalog", "unit_cost", "NaN"),
    "lead time 1e308": ("catalog", "lead_time_days", "1e308"),
    "shelf life of a thousand years": ("catalog", "shelf_life_days", "365000"),
    "min par inf": ("catalog", "min_par_units", "inf"),
    "min par 1e308": ("catalog", "min_par_units", "1e308"),
    "on hand 1e308": ("on_hand", "on_hand_units", "1e308"),
    "on hand nan": ("on_hand", "on_hand_units", "nan"),
    "on order inf": ("on_hand", "on_order_units", "inf"),
    "lot units 1e308": ("lots", "units", "1e308"),
}
GOOD_STOCK = {"on_hand": ON_HAND_HEADER + "S1,D1,5,0\n", "lots": LOTS_HEADER + "S1,D1,L1,2030-01-31,5\n"}


def with_value(text: str, column: str, value: str) -> str:
    header, row = text.splitlines()
    fields = row.split(",")
    fields[header.split(",").index(column)] = value
    return f"{header}\n{','.join(fields)}\n"


@pytest.mark.parametrize(("kind", "column", "value"), NON_FINITE.values(), ids=NON_FINITE.keys())
def test_a_non_finite_or_implausible_reference_number_refuses_the_file_and_the_last_snapshot_stays(
        con, tmp_path, kind, column, value):
    good_text = GOOD_CATALOG if kind == "catalog" else GOOD_STOCK[kind]
    load, table = (load_catalog, schema.CATALOG) if kind == "catalog" else (load_on_hand, schema.ON_HAND)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(good_text)
    bad.write_text(with_value(good_text, column, value))
    load(con, good)
    before = con.execute(f"select * from {table}").fetchall()
    with pytest.raises(IngestError) as info:
        load(con, bad)
    message = str(info.value)
    assert message.startswith(f"{bad}: ") and f"line 2, column {column}: " in message, message
    assert re.search(r": (must be [\w ]*[\d.,]+ (units|days)|must be 0\.\.1,000,000|not a whole number) ", message), message
    assert f"(value '{value}')" in message, message
    assert con.execute(f"select * from {table}").fetchall() == before  # the good snapshot stays in force
    assert con.execute("select 1").fetchone() == (1,)  # no aborted transaction left behind
