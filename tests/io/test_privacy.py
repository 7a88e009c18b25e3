"""No patient or prescriber identifier reaches the warehouse or an output (issue 6, security and privacy).

The demo's pharmacy-system export carries Rx numbers, patient names and dates of birth and prescriber
NPIs; a second export is loaded through a mapping that maps ``drug_name`` to its "Patient Name"
column by mistake. After a full run, every warehouse column name and every output CSV header is
checked against the identifier name patterns, and every stored text value and every output file
against the identifiers the exports carried.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import DEMO_END, make_settings, run_pipeline
from turnover import pipeline
from turnover.io.privacy import looks_like_identifier, name_words
from turnover.io.warehouse import open_warehouse, quote_identifier
from turnover.settings import ColumnMapping

# Values planted in the mis-mapped export: each must never be stored or written anywhere.
PLANTED = {
    "Patient Name": "Jane Q Planted", "Patient DOB": "04/01/1950", "Rx Number": "RXPLANTED01",
    "Prescriber DEA": "AP1234563", "Patient Address": "1 Privacy Lane", "Patient Phone": "555-0142",
    "Patient Email": "jane.planted@example.org",
}
# Identifiers of the demo's rxsys export: "Patient P0448412", "RX00043979", and NPIs (10 digits from 1).
DEMO_IDENTIFIERS = r"Patient P\d+|RX\d{8}|\b1\d{9}\b"
# Warehouse columns that are named like an identifier but are not one, with why.
NOT_IDENTIFIERS = {("ref", "signals", "name"): "the name of a configured external signal (e.g. ilinet)"}
CHEAP_FORECAST = {"n_paths": 100, "backtest_cutoffs": 1, "backtest_paths": 50, "candidates_seasonal": ["seasonal_naive"],
                  "candidates_smooth": ["moving_average"], "candidates_intermittent": ["croston_sba"]}


@pytest.mark.parametrize("name", ["Patient Name", "PatientName", "pt_dob", "Date of Birth", "MRN", "Rx #", "RxNumber",
                                  "Prescriber NPI", "DEA", "Patient Address 1", "Phone", "E-mail", "SSN", "Name",
                                  "First Name", "Member ID", "ZIP Code"])
def test_personal_identifier_column_names_are_recognised(name):
    assert looks_like_identifier(name), name_words(name)


@pytest.mark.parametrize("name", ["Drug Name", "drug_name", "Drug Description", "NDC", "Fill Date", "Store",
                                  "Qty Dispensed", "quantity", "generic_name", "Last Fill Date", "datum", "M01AB"])
def test_dispensing_column_names_are_not_taken_for_identifiers(name):
    assert not looks_like_identifier(name)


def write_mis_mapped_export(path: Path) -> Path:
    header = ["Fill Date", "Store", "NDC", "Qty Dispensed", *PLANTED]
    days = [DEMO_END - timedelta(days=7 * week) for week in range(60)]
    rows = [",".join([day.strftime("%m/%d/%Y"), "STORE-09", "50090-219-01", str(10 + week % 5), *PLANTED.values()])
            for week, day in enumerate(days)]
    path.write_text("\n".join([",".join(header), *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def privacy_run(tmp_path_factory, demo_files):
    """A warehouse and outputs from the demo's rxsys export and a mis-mapped one, after one weekly run."""
    root = tmp_path_factory.mktemp("privacy")
    settings = make_settings(root)
    misread = ColumnMapping(name="misread", date_formats=["%m/%d/%Y"], columns={
        "dispensed_at": "Fill Date", "location_id": "Store", "drug_id": "NDC", "quantity": "Qty Dispensed",
        "drug_name": "Patient Name"})
    settings = settings.model_copy(update={
        "ingest": settings.ingest.model_copy(update={"mappings": [*settings.ingest.mappings, misread]}),
        "forecast": settings.forecast.model_copy(update=CHEAP_FORECAST),
    })
    rxsys = next(p for p in demo_files.history if p.name.startswith("rxsys"))
    loads = pipeline.load_history(settings, [rxsys, write_mis_mapped_export(root / "misread.csv")])
    pipeline.load_reference(settings, catalog=demo_files.catalog, on_hand=demo_files.on_hand)
    outputs = run_pipeline(settings, DEMO_END, "privacy-run")
    return settings, loads, outputs


def test_the_mis_mapped_identifier_column_is_refused_and_the_load_says_so(privacy_run):
    _, loads, _ = privacy_run
    misread = next(r for r in loads if r.mapping == "misread")
    assert misread.refused_columns == ("Patient Name (as drug_name)",) and misread.rows_loaded == 60
    assert "refused identifier columns a mapping names: Patient Name (as drug_name)" in misread.summary()
    rxsys = next(r for r in loads if r.mapping == "rxsys")
    assert {"Rx Number", "Patient Name", "Patient DOB", "Prescriber NPI"} <= set(rxsys.ignored_columns)


def test_no_warehouse_column_is_named_or_holds_an_identifier(privacy_run):
    settings, _, _ = privacy_run
    leaks = re.compile("|".join([DEMO_IDENTIFIERS, *map(re.escape, PLANTED.values())]))
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema in ('raw', 'ref', 'staging', 'marts') order by all").fetchall()
        assert len(columns) > 200
        named = [c[:3] for c in columns if looks_like_identifier(c[2]) and c[:3] not in NOT_IDENTIFIERS]
        assert named == []
        found = {}
        for schema_name, table, column, data_type in columns:
            if data_type not in ("VARCHAR", "VARCHAR[]", "JSON"):
                continue
            values = con.execute(
                f"select distinct {quote_identifier(column)}::varchar from {schema_name}.{table} "
                f"where {quote_identifier(column)} is not null").fetchall()
            hits = [v for (v,) in values if leaks.search(v)]
            if hits:
                found[f"{schema_name}.{table}.{column}"] = hits[:3]
        stored = con.execute("select count(*) from raw.dispensing where location_id = 'STORE-09'").fetchone()[0]
    assert found == {}
    assert stored == 60  # the mis-mapped export did load, without its identifier column


def test_no_output_has_an_identifier_header_or_value(privacy_run):
    settings, _, outputs = privacy_run
    leaks = re.compile("|".join([DEMO_IDENTIFIERS, *map(re.escape, PLANTED.values())]))
    files = sorted(Path(settings.output_dir).rglob("*.*"))
    assert any(p.suffix == ".csv" for p in files) and set(map(Path, outputs)) <= set(files)
    for path in files:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix == ".csv":
            header = text.splitlines()[0].split(",")
            assert [h for h in header if looks_like_identifier(h.strip('"'))] == [], path.name
        assert leaks.search(text) is None, f"{path.name}: {leaks.search(text)}"
