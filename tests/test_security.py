"""Hostile ids and names: SQL in them stays data, file names from them stay in the output folder, and cells a
spreadsheet would run as a formula are neutralised in every CSV.

The pharmacy here is a slice of the demo (five locations, seven drugs) whose location ids, drug ids, drug
names and a lot carry SQL, path traversal, formulas and markup, loaded from files as a real export would be.
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path, PureWindowsPath

import hypothesis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import DEMO_END, make_settings, run_pipeline
from turnover import pipeline, schema
from turnover.demo.files import write_openfda
from turnover.demo.synthetic import DEMO_RECALLS, DEMO_SHORTAGES, generate_pharmacy
from turnover.io import files, outputs, spreadsheet
from turnover.io.warehouse import connect, normalize_ndc, open_warehouse

RUN = "run-hostile"
FORMULA_LOCATION = "=cmd|' /C calc'!A0"
LOCATIONS = {"STORE-01": "../../etc", "STORE-02": "..\\x", "STORE-03": "/abs/evil"}  # and the two below
MIMIC_LOCATION = "x-ff867350"  # a plain id, spelled as the safe file name of "..\\x" (its hash suffix)
SQL_IDS = ("x'); DROP TABLE raw.dispensing; --", "Robert'); --")
MARKUP = "<script>alert(1)</script>"
# ndc10 -> (drug id replacing the NDC or None to keep it, drug name)
DRUGS = {
    "45963-676-11": (None, f'=HYPERLINK("http://evil.example","Metoprolol"){MARKUP}'),  # recalled: quarantine
    "0487-9901-30": (None, "+cmd|' /C calc'!A0"),  # in shortage
    "60505-257-80": (SQL_IDS[0], "-2+3 Atorvastatin"),
    "0093-0171-01": (SQL_IDS[1], 'Robert"); DROP TABLE ref.catalog; --'),
    "49502-102-02": ("@evil", "@SUM(1+1)"),
    "0093-1048-01": (None, "\tMetformin (tab)"),
    "37205-0443-1": (None, " =Loratadine"),  # trimmed at ingest: a formula by the time it is exported
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """The hostile pharmacy's files loaded and run through every step."""
    inputs, root = tmp_path_factory.mktemp("hostile_inputs"), tmp_path_factory.mktemp("hostile")
    demo = generate_pharmacy(DEMO_END)
    ndc_ids = dict(zip(DRUGS, normalize_ndc(list(DRUGS)), strict=True))
    new_id = {ndc_ids[ndc]: drug_id or ndc_ids[ndc] for ndc, (drug_id, _) in DRUGS.items()}
    new_name = {ndc_ids[ndc]: name for ndc, (_, name) in DRUGS.items()}

    def hostile_rows(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[frame["drug_id"].isin(new_id)].copy()
        formula_store = rows[rows["location_id"] == "STORE-03"].assign(location_id=FORMULA_LOCATION)
        mimic_store = rows[rows["location_id"] == "STORE-01"].assign(location_id=MIMIC_LOCATION)
        rows = pd.concat([rows.replace({"location_id": LOCATIONS}), formula_store, mimic_store], ignore_index=True)
        if "drug_name" in rows:
            rows["drug_name"] = rows["drug_id"].map(new_name)
        return rows.assign(drug_id=rows["drug_id"].map(new_id))

    dispensing = hostile_rows(demo.dispensing)[["dispensed_at", "location_id", "drug_id", "quantity", "drug_name"]]
    lots = hostile_rows(demo.on_hand)
    lots.loc[lots["drug_id"] == ndc_ids["0093-1048-01"], "lot"] = "=" + lots["lot"]  # a lot number, too
    catalog = demo.catalog[demo.catalog["drug_id"].isin(new_id)]
    catalog = catalog.assign(drug_name=catalog["drug_id"].map(new_name), drug_id=catalog["drug_id"].map(new_id))
    files = {"history": inputs / "dispensing.csv", "catalog": inputs / "catalog.csv", "on_hand": inputs / "on_hand.csv",
             "closures": inputs / "closures.csv", "recalls": inputs / "recalls.json", "shortages": inputs / "shortages.json"}
    dispensing.to_csv(files["history"], index=False)
    catalog.to_csv(files["catalog"], index=False)
    lots.to_csv(files["on_hand"], index=False)
    demo.closures.to_csv(files["closures"], index=False)
    write_openfda(list(DEMO_RECALLS), files["recalls"])
    write_openfda(list(DEMO_SHORTAGES), files["shortages"])

    settings = make_settings(root)
    with open_warehouse(settings.warehouse_path):  # every table, before anything is loaded
        pass
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        tables_before = table_names(con)
    [load] = pipeline.load_history(settings, [files["history"]])
    pipeline.load_reference(settings, **{k: v for k, v in files.items() if k != "history"})
    written = run_pipeline(settings, DEMO_END, RUN)
    return {"settings": settings, "root": root, "written": written, "tables_before": tables_before, "load": load,
            "dispensing_rows": len(dispensing), "locations": sorted([*LOCATIONS.values(), FORMULA_LOCATION, MIMIC_LOCATION]),
            "drug_ids": sorted(new_id.values()), "drug_names": sorted(new_name.values())}


def table_names(con) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "select schema_name, table_name from duckdb_tables() where not temporary").fetchall()}


def read_csv_cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


# --- SQL ----------------------------------------------------------------------------------------------------

def test_sql_in_ids_and_names_is_stored_verbatim_and_drops_nothing(hostile):
    assert hostile["load"].rows_loaded == hostile["dispensing_rows"] and hostile["load"].rows_rejected == 0
    with open_warehouse(hostile["settings"].warehouse_path, read_only=True) as con:
        assert hostile["tables_before"] <= table_names(con)  # every table still there
        assert con.execute(f"select count(*) from {schema.DISPENSING}").fetchone()[0] == hostile["dispensing_rows"]
        stored_ids = {r[0] for r in con.execute(f"select distinct drug_id from {schema.DISPENSING}").fetchall()}
        catalog = dict(con.execute(f"select drug_id, drug_name from {schema.CATALOG}").fetchall())
        par_keys = con.execute(f"select distinct location_id, drug_id from {schema.PAR_LEVELS} where run_id = ?",
                               [RUN]).fetchall()
    assert stored_ids == set(hostile["drug_ids"]) and set(SQL_IDS) <= stored_ids
    assert sorted(catalog) == hostile["drug_ids"]
    assert sorted(catalog.values()) == sorted(name.strip(" ") for name in hostile["drug_names"])
    assert sorted({loc for loc, _ in par_keys}) == hostile["locations"]
    assert len(par_keys) == len(hostile["locations"]) * len(hostile["drug_ids"])


def test_the_purchasing_csv_carries_the_sql_ids_as_they_came(hostile):
    rows = read_csv_cells(hostile["settings"].output_dir / f"par_levels_{DEMO_END}.csv")
    ids = {row[1] for row in rows[1:]}
    assert set(SQL_IDS) <= ids and "'@evil" in ids  # text as sent; a formula start neutralised


def test_sql_values_are_bound_never_formatted_into_a_statement(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    try:
        outputs.start_run(con, SQL_IDS[0], DEMO_END, "week", "{}")
        outputs.write_run_table(con, schema.DRIFT_FLAGS, SQL_IDS[0], pd.DataFrame({"location_id": [SQL_IDS[1]],
                                                                                   "drug_id": [SQL_IDS[0]]}))
        outputs.fail_run(con, SQL_IDS[0], "x'); DROP TABLE marts.runs; --")
        assert outputs.find_run(con, SQL_IDS[0])[0] == SQL_IDS[0]
        assert con.execute(f"select status, outputs from {schema.RUNS}").fetchall() == [
            ("failed", ["error: x'); DROP TABLE marts.runs; --"])]
        assert outputs.read_run_table(con, schema.DRIFT_FLAGS, SQL_IDS[0])["drug_id"].tolist() == [SQL_IDS[0]]
    finally:
        con.close()


# --- paths --------------------------------------------------------------------------------------------------

HOSTILE_FILE_PARTS = ["../../etc", "..\\x", "/etc/passwd", "C:\\Windows\\system32", "..", ".", "", "~root", "a\x00b",
                      " spaced ", ".hidden", "-rf", "x" * 300, FORMULA_LOCATION, "S/1", "S_1", "S 1", "S\\1"]


def test_a_name_made_from_an_id_is_one_file_name_in_its_folder_and_unique_per_id():
    names = [files.safe_file_part(text) for text in HOSTILE_FILE_PARTS]
    for name in names:
        assert name not in {"", ".", ".."} and not name.startswith((".", "-")) and len(name) <= 80
        assert "/" not in name and "\\" not in name and "\x00" not in name and ":" not in name
        assert (Path("/out") / name).parent == Path("/out") and PureWindowsPath("C:/out", name).parent == PureWindowsPath("C:/out")
    assert len(set(names)) == len(names)  # "S/1" and "S_1" never share a file
    assert files.safe_file_part("STORE-01") == "STORE-01"  # a plain id keeps its name


def test_files_named_after_location_ids_stay_in_the_output_folder(hostile):
    out, root = hostile["settings"].output_dir, hostile["root"]
    assert {p.parent for p in hostile["written"]} == {out, out / "by_location"}
    stamp = DEMO_END.isoformat()
    top = {p.name for p in hostile["written"] if p.parent == out}
    assert top == {f"{s}_{stamp}.csv" for s in ("par_levels", "forecast", "par_calendar", "expiry_risk", "transfers",
                                                  "quarantine", "shortages")} | {f"report_{stamp}.html"}
    on_disk = {p.relative_to(root) for p in root.rglob("*") if p.is_file()}
    published = json.loads((out / "latest.json").read_text(encoding="utf-8"))  # and the run folder it names
    run_folder = [out.relative_to(root) / published["folder"] / p.relative_to(out) for p in hostile["written"]]
    assert on_disk == {Path("warehouse.duckdb"), Path("out/latest.json"), *run_folder,
                       *(p.relative_to(root) for p in hostile["written"])}
    assert not Path("/abs/evil").exists()
    by_location = sorted(out.glob("by_location/*.csv"))
    assert len(by_location) == len(hostile["locations"])
    locations = sorted({row[0] for f in by_location for row in read_csv_cells(f)[1:]})
    assert locations == sorted(spreadsheet.neutralise_formulas(pd.DataFrame({"l": hostile["locations"]}))["l"])
    assert all(len({row[0] for row in read_csv_cells(f)[1:]}) == 1 for f in by_location)


def test_the_report_shows_hostile_names_as_text(hostile):
    report = (hostile["settings"].output_dir / f"report_{DEMO_END}.html").read_text(encoding="utf-8")
    assert html.escape(DRUGS["45963-676-11"][1]) in report  # the recalled drug is flagged there
    assert MARKUP not in report


# --- formulas -----------------------------------------------------------------------------------------------

def test_no_csv_cell_would_run_as_a_formula_and_every_csv_carries_a_neutralised_one(hostile):
    out = hostile["settings"].output_dir
    for path in [*sorted(out.glob("*.csv")), *sorted(out.glob("by_location/*.csv"))]:
        rows = read_csv_cells(path)
        if path.name.startswith("transfers_") and len(rows) == 1:
            continue  # no lot of the hostile pharmacy would expire unused: the header alone
        cells = [cell for row in rows for cell in row]
        for cell in cells:
            if cell.startswith("-"):
                float(cell)  # a negative number; text starting with "-" would be neutralised
            else:
                assert not cell.startswith(FORMULA_START), (path.name, cell)
        assert any(c[:1] == "'" and c[1:2] in FORMULA_START for c in cells), path.name  # the hostile data got there
    quarantine = read_csv_cells(out / f"quarantine_{DEMO_END}.csv")
    assert quarantine[1][2] == "'" + DRUGS["45963-676-11"][1]
    shortages = {row[2] for row in read_csv_cells(out / f"shortages_{DEMO_END}.csv")[1:]}
    assert "'" + DRUGS["0487-9901-30"][1] in shortages
    names = {row[2] for row in read_csv_cells(out / f"par_levels_{DEMO_END}.csv")[1:]}
    assert {"'\tMetformin (tab)", "'=Loratadine", "'-2+3 Atorvastatin"} <= names


def test_formula_text_is_neutralised_and_negative_numbers_stay_numbers(tmp_path):
    texts = ["=1+1", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "-", "ok", "x=1"]
    frame = pd.DataFrame({
        "drug_id": texts,
        "drug_name": pd.array(texts, dtype="string"),
        "lot": pd.Categorical(texts),
        "order_units": [-2.5] * len(texts),
        "order_packs": [-3] * len(texts),
    })
    path = files.write_csv_atomic(frame, tmp_path / "pars.csv")
    rows = read_csv_cells(path)
    expected = ["'=1+1", "'+1", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "'-", "ok", "x=1"]
    assert [r[:3] for r in rows[1:]] == [[e, e, e] for e in expected]
    assert all(r[3:] == ["-2.5", "-3"] for r in rows[1:])
    assert '"\'=1+1","\'=1+1","\'=1+1",-2.5,-3\n' in path.read_text(encoding="utf-8-sig")  # numbers unquoted


def test_an_id_that_looks_like_another_ids_safe_name_gets_its_own_file():
    # "S/1" is made safe as "S_1-ac1175e6" (its hash suffix): the id "S_1-ac1175e6" must not take that name too.
    assert files.safe_file_part("S/1") == "S_1-ac1175e6"
    names = files.file_parts(["S/1", "S_1-ac1175e6"])
    assert len(set(names.values())) == 2


def test_names_differing_only_in_case_get_distinct_files_on_a_case_insensitive_share():
    names = files.file_parts(["STORE-01", "store-01", "Store-01"])
    assert len({name.casefold() for name in names.values()}) == 3


ID_TEXT = st.one_of(st.text(max_size=70), st.from_regex(r"[A-Za-z0-9 ._/\\-]{0,12}", fullmatch=True))


@hypothesis.settings(max_examples=300, deadline=None)
@given(st.lists(ID_TEXT, unique=True, max_size=25), st.data())
def test_n_locations_give_n_distinct_file_names_none_leaving_the_folder(ids, data):
    # Add ids shaped like other ids' safe names (the collision above), in either case.
    mimics = data.draw(st.lists(st.sampled_from(ids), max_size=5)) if ids else []
    ids = list(dict.fromkeys([*ids, *(files.safe_file_part(i) for i in mimics),
                              *(files.safe_file_part(i).upper() for i in mimics)]))
    names = files.file_parts(ids)
    assert list(names) == ids
    assert len({n.casefold() for n in names.values()}) == len(ids)
    for name in names.values():
        assert name not in {"", ".", ".."} and not name.startswith((".", "-")) and len(name) <= 80
        assert (Path("/out") / name).parent == Path("/out") and PureWindowsPath("C:/out", name).parent == PureWindowsPath("C:/out")


def test_formulas_behind_a_line_break_blanks_or_fullwidth_signs_are_neutralised(tmp_path):
    texts = ["\n=3+3", "\r\n=3+3", " \n =1+1", "\u3000=1", "\u00a0+1", "＝1+1", "＋1", "－cmd", "＠SUM(A1)", "﹦1",
             "\n\tx", "ok", "x＝1", "１２", "\nplain"]
    frame = pd.DataFrame({"drug_name": texts, "lot": pd.Categorical(texts), "order_units": [-2.5] * len(texts)})
    rows = read_csv_cells(files.write_csv_atomic(frame, tmp_path / "pars.csv"))
    expected = ["'" + t for t in texts[:11]] + texts[11:]
    assert [r[:2] for r in rows[1:]] == [[e, e] for e in expected]
    assert all(r[2] == "-2.5" for r in rows[1:])  # a negative number stays a number


def test_a_date_in_year_one_is_written_with_four_digits(tmp_path):
    frame = pd.DataFrame({"lot": ["A"], "expiry_date": np.array(["0001-01-01"], dtype="datetime64[us]")})
    path = files.write_csv_atomic(frame, tmp_path / "lots.csv")
    assert path.read_text(encoding="utf-8-sig") == '"lot","expiry_date"\n"A","0001-01-01"\n'
