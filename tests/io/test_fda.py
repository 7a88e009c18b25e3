"""FDA recalls and shortages: every accepted shape reads to the same columns; bad files name themselves."""

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from turnover.io.fda import RECALL_COLUMNS, SHORTAGE_COLUMNS, lot_codes, normalize_product_ndc, read_recalls, read_shortages
from turnover.io.ingest import IngestError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ENFORCEMENT = SHARED / "datasets" / "fda_drug_enforcement"
SHORTAGES = SHARED / "datasets" / "fda_drug_shortages"
EXAMPLE_LOTS = ["10108716", "10111510", "10113801", "10113839", "10115616"]


def shared_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared not checked out)")
    return path


@pytest.fixture(scope="module")
def shortage_snapshot() -> pd.DataFrame:
    return read_shortages(shared_file(SHORTAGES, "openfda_drug_shortages_2025-11-19.csv"))


def api_recall(**fields) -> dict:
    record = {
        "recall_number": "D-0419-2026", "classification": "Class II", "status": "Ongoing", "product_type": "Drugs",
        "reason_for_recall": "cGMP deviation", "product_description": "Prazosin Capsules, 1mg, NDC 70377-066-11.",
        "code_info": "Lot #: 2201234, Exp 06/2027", "recall_initiation_date": "20260327", "report_date": "20260415",
        "recalling_firm": "Appco Pharma LLC",
        "openfda": {"package_ndc": ["0591-2436-15", "70000-0011-1"], "product_ndc": ["0591-2436", "65219-470"]},
    }
    return {**record, **fields}


def write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0067-6382", "000676382"), ("65219-470", "652190470"), ("70000-0011", "700000011"), ("123456789", "123456789"),
     ("0067-6382-30", None), ("1234-567", None), ("NDC", None), ("", None)],
)
def test_product_ndcs_are_padded_to_nine_digits_and_anything_else_is_none(text, expected):
    assert normalize_product_ndc(text) == expected


@pytest.mark.parametrize(
    ("code_info", "expected"),
    [
        ("Lot #: 2201234, Exp 06/2024", ["2201234"]),
        ("Lot Number(s): ab1234, AB1235; Expiration Date: 12/31/2025", ["AB1234", "AB1235"]),
        ("Lot No. 5C123A exp. 2025-03", ["5C123A"]),
        ("Batch number: 21E0456, Expiry date: May 2024", ["21E0456"]),
        ("Lots: 12345 and 67890 31 Dec 2025", ["12345", "67890"]),
        ("NDC 0067-6382-30, Lot #A12345 EXP 12/2026 UPC 012345678905", ["A12345"]),
        ("All lots within expiry", []),
        ("UPC 300676382302", []),
        ("", []),
    ],
)
def test_lot_codes_skip_dates_words_ndcs_and_upcs(code_info, expected):
    assert lot_codes(code_info) == expected


@pytest.mark.realdata
def test_the_official_example_record_yields_ndcs_from_its_text_and_lots_without_dates():
    recalls = read_recalls(shared_file(ENFORCEMENT, "openfda_drug_enforcement_example_record.json"))
    assert list(recalls.columns) == list(RECALL_COLUMNS)
    row = recalls.iloc[0]
    # "NDC 0067-6382-30" and "Target NDC 1167-3401-04" are 4-4-2: a leading zero makes 5-4-2.
    assert row["package_ndcs"] == ["00067638230", "01167340104"]
    assert row["product_ndcs"] == ["000676382", "011673401"]
    assert row["lots"] == EXAMPLE_LOTS
    assert (row["recall_number"], row["classification"], row["source_record"]) == ("event-64372", "Class III", 1)
    assert (row["report_date"], row["recall_initiation_date"]) == (pd.Timestamp("2013-06-12"), pd.Timestamp("2013-02-19"))


def test_an_api_answer_keeps_drugs_and_normalises_openfda_and_text_ndcs(tmp_path):
    device = api_recall(recall_number="Z-0001-2026", product_type="Devices")
    from_text = api_recall(recall_number="D-0500-2026", openfda={}, code_info="", report_date="",
                           product_description="Saline, Unit of Use NDC: 65219-470-05, NDC# 0409-4888, NDC Number: 65")
    path = write(tmp_path / "enforcement.json", {"meta": {}, "results": [api_recall(), device, from_text]})
    recalls = read_recalls(path)
    assert list(recalls.columns) == list(RECALL_COLUMNS)
    assert recalls["recall_number"].tolist() == ["D-0419-2026", "D-0500-2026"]
    assert recalls["source_record"].tolist() == [1, 3]
    assert recalls["package_ndcs"].tolist() == [["00591243615", "70000001101", "70377006611"], ["65219047005"]]
    assert recalls["product_ndcs"].tolist() == [
        ["005912436", "652190470", "700000011", "703770066"], ["004094888", "652190470"]]
    assert recalls["lots"].tolist() == [["2201234"], []]
    assert recalls["code_info"].tolist()[1] == ""
    assert recalls["report_date"].tolist()[0] == pd.Timestamp("2026-04-15") and pd.isna(recalls["report_date"].iloc[1])
    assert str(recalls["report_date"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize("content", [[api_recall()], api_recall(), {"result": api_recall()}])
def test_an_array_a_bare_record_and_a_result_object_read_alike(tmp_path, content):
    recalls = read_recalls(write(tmp_path / "one.json", content))
    assert recalls[["recall_number", "source_record"]].values.tolist() == [["D-0419-2026", 1]]
    assert recalls["package_ndcs"].iloc[0] == ["00591243615", "70000001101", "70377006611"]


def test_a_gzipped_csv_with_api_field_names_parses_list_text_ndcs(tmp_path):
    text = (
        "recall_number,classification,status,reason_for_recall,product_description,code_info,"
        "recall_initiation_date,report_date,recalling_firm,product_type,openfda_package_ndc,openfda_product_ndc\n"
        "D-1-2026,Class I,Ongoing,Sterility,\"Vial, 10 mL\",\"Lot: 123456 Exp: 31 Dec 2025\",2026-03-01,20260401,Firm,Drugs,"
        "\"['0004-0801-85', '0004-0802-85']\",\"['0004-0801']\"\n"
        "F-1-2026,Class I,Ongoing,Listeria,Cheese,,2026-03-01,20260401,Farm,Food,,\n"
    )
    path = tmp_path / "enforcement.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    recalls = read_recalls(path)
    assert recalls["recall_number"].tolist() == ["D-1-2026"]
    assert recalls["package_ndcs"].iloc[0] == ["00004080185", "00004080285"]
    assert recalls["product_ndcs"].iloc[0] == ["000040801", "000040802"]
    assert recalls["lots"].iloc[0] == ["123456"]
    assert recalls["recall_initiation_date"].iloc[0] == pd.Timestamp("2026-03-01")


@pytest.mark.realdata
def test_the_scanner_csv_has_162_drug_recalls_with_ndcs_from_truncated_text():
    recalls = read_recalls(shared_file(ENFORCEMENT, "openfda_enforcement_drug_device_food_2026-04-27.csv"))
    assert len(recalls) == 162
    assert recalls["classification"].value_counts().to_dict() == {
        "Class II": 145, "Class III": 9, "Class I": 7, "Not Yet Classified": 1}
    assert (recalls["report_date"].min(), recalls["report_date"].max()) == (pd.Timestamp("2026-01-28"), pd.Timestamp("2026-04-15"))
    first = recalls.iloc[0]  # line 15: the first drug row, after 13 food rows and the header
    assert (first["recall_number"], first["source_record"], first["package_ndcs"]) == ("unnumbered-15", 15, ["71266508501"])
    # Descriptions are cut at 240 characters: "Unit of Sale NDC Number: 65" must not become an NDC.
    every_ndc = [ndc for ndcs in recalls["package_ndcs"] for ndc in ndcs]
    assert every_ndc and all(re.fullmatch(r"\d{11}", ndc) for ndc in every_ndc)
    assert recalls["code_info"].eq("").all() and recalls["lots"].map(len).eq(0).all()


@pytest.mark.realdata
def test_the_ires_csv_has_100_drug_recalls_and_a_bare_number_is_an_event_id():
    recalls = read_recalls(shared_file(ENFORCEMENT, "fda_recalls_ires_2026-04-27.csv"))
    assert len(recalls) == 100
    assert recalls["recall_number"].iloc[0] == "D-0419-2026"
    assert recalls.loc[~recalls["recall_number"].str.match(r"D-\d{4}-\d{4}$"), "recall_number"].tolist() == ["event-98647"]
    dates = recalls["recall_initiation_date"]
    assert (dates.min(), dates.max()) == (pd.Timestamp("2025-12-30"), pd.Timestamp("2026-03-27"))
    assert recalls["report_date"].isna().all()


def test_a_file_without_drug_recalls_is_an_empty_frame_with_the_columns(tmp_path):
    path = write(tmp_path / "food.csv", "recall_id,classification,recall_type,product\nH-1,Class II,food,Cheese\n")
    recalls = read_recalls(path)
    assert recalls.empty and list(recalls.columns) == list(RECALL_COLUMNS)
    assert str(recalls["report_date"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "recall_id,firm,status\nD-1,Firm,Ongoing\n", r"missing column\(s\): product_description or product, classification"),
        ("b.csv", "classification,product\nClass I,Vial\nClass II,Vial,extra\n", r"line 3: 3 fields where the header has 2"),
        ("c.csv", "classification,product,report_date\nClass I,Vial,15/04/2026\n", r"line 2, column report_date: not a date"),
        ("d.json", {"meta": {}, "count": []}, r"not an openFDA enforcement file"),
        ("e.json", {"results": [{"classification": "Class I"}]}, r"not an openFDA enforcement file: record 1 has no product_desc"),
        ("f.json", "{\"results\": [", r"not valid JSON"),
    ],
)
def test_a_bad_recall_file_is_refused_naming_the_file(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(IngestError, match=re.escape(str(path)) + ".*" + message):
        read_recalls(path)


@pytest.mark.realdata
def test_the_shortage_snapshot_reads_every_row_with_statuses_as_given(shortage_snapshot):
    assert list(shortage_snapshot.columns) == list(SHORTAGE_COLUMNS)
    assert len(shortage_snapshot) == 1951
    assert shortage_snapshot["status"].value_counts().to_dict() == {"Current": 1198, "To Be Discontinued": 576, "Resolved": 177}
    assert shortage_snapshot["package_ndc"].str.fullmatch(r"\d{11}").all()


@pytest.mark.realdata
def test_the_shortage_snapshot_keeps_each_record_s_first_posting_date(shortage_snapshot):
    posted = shortage_snapshot["initial_posting_date"]  # SOURCE.md: INITIAL_POSTING_DATE 2012-01-01 .. 2025-11-17
    assert posted.notna().all()
    assert (posted.min(), posted.max()) == (pd.Timestamp("2012-01-01"), pd.Timestamp("2025-11-17"))


@pytest.mark.realdata
def test_oseltamivir_is_to_be_discontinued_and_albuterol_current(shortage_snapshot):
    oseltamivir = shortage_snapshot[shortage_snapshot["generic_name"].str.startswith("Oseltamivir")]
    assert set(oseltamivir["status"]) == {"To Be Discontinued"}
    capsule = oseltamivir.set_index("package_ndc").loc["00004080185"]  # 0004-0801-85 is 4-4-2
    assert capsule["therapeutic_category"] == ["Antiviral"]
    assert capsule["product_ndcs"][:2] == ["000040801", "000040802"]
    assert capsule["update_date"] == pd.Timestamp("2025-09-30")
    albuterol = shortage_snapshot[shortage_snapshot["generic_name"] == "Albuterol Sulfate Solution"]
    assert len(albuterol) == 3 and set(albuterol["status"]) == {"Current"}
    assert shortage_snapshot["therapeutic_category"].iloc[0] == ["Endocrinology/Metabolism", "Gastroenterology"]


@pytest.mark.realdata
def test_the_scraped_current_list_drops_its_header_and_malformed_rows():
    shortages = read_shortages(shared_file(SHORTAGES, "fda_current_shortages_list_2026-04-27.csv"))
    assert shortages["status"].value_counts().to_dict() == {"Current": 72, "Resolved": 4}
    assert shortages["generic_name"].iloc[0] == "Albuterol Sulfate Solution"
    assert not shortages["generic_name"].str.startswith("Generic Name").any()
    assert shortages["package_ndc"].isna().all() and shortages["source_record"].iloc[0] == 3


@pytest.mark.realdata
def test_the_so_called_shortage_example_is_an_ndc_directory_record_and_is_refused():
    path = shared_file(SHORTAGES, "openfda_drugshortages_example_record.json")
    with pytest.raises(IngestError, match=re.escape(str(path)) + r": not an openFDA drug shortages file: record 1 has no status"):
        read_shortages(path)


def test_an_api_shortage_answer_is_normalised(tmp_path):
    record = {"package_ndc": "0004-0801-85", "generic_name": "Oseltamivir Phosphate Capsule", "status": "To Be Discontinued",
              "availability": "Limited Availability", "therapeutic_category": ["Antiviral", "Pediatric"],
              "update_date": "09/30/2025", "openfda": {"product_ndc": ["0004-0801", "65219-470"]}}
    bare = {"generic_name": "Amino Acid Injection", "status": "Current"}
    shortages = read_shortages(write(tmp_path / "shortages.json", {"meta": {}, "results": [record, bare]}))
    assert shortages["package_ndc"].tolist() == ["00004080185", None]
    assert shortages["product_ndcs"].tolist() == [["000040801", "652190470"], []]
    assert shortages["therapeutic_category"].tolist() == [["Antiviral", "Pediatric"], []]
    assert shortages["update_date"].iloc[0] == pd.Timestamp("2025-09-30") and pd.isna(shortages["update_date"].iloc[1])
    assert shortages["shortage_reason"].tolist() == ["", ""]


def test_a_lower_case_shortage_csv_parses_list_text_and_falls_back_to_one_item(tmp_path):
    text = (
        "package_ndc,generic_name,status,therapeutic_category,update_date,openfda_product_ndc\n"
        "65282-1605-1,Lidocaine,Current,\"['Anesthesia', 'Pediatric']\",10/01/2025,['65282-1605']\n"
        "0487-9901-30,Albuterol,Resolved,\"['Pulmonary\",11/17/2025,\n"
    )
    shortages = read_shortages(write(tmp_path / "shortages.csv", text))
    assert shortages["package_ndc"].tolist() == ["65282160501", "00487990130"]
    assert shortages["therapeutic_category"].tolist() == [["Anesthesia", "Pediatric"], ["['Pulmonary"]]
    assert shortages["product_ndcs"].tolist() == [["652821605"], ["004879901"]]
    assert shortages["source_record"].tolist() == [2, 3]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "GENERIC_NAME,AVAILABILITY\nLidocaine,Available\n", r"missing column\(s\): package_ndc, status"),
        ("b.csv", "PACKAGE_NDC,GENERIC_NAME,STATUS,UPDATE_DATE\n0004-0801-85,X,Current,2025-30-09\n", r"line 2, column update_date"),
        ("c.json", {"results": {"generic_name": "X"}}, r"not an openFDA drug shortages file: 'results' is not a list"),
        ("d.json", [1, 2], r"not an openFDA drug shortages file: record 1 has no generic_name, status"),
    ],
)
def test_a_bad_shortage_file_is_refused_naming_the_file(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(IngestError, match=re.escape(str(path)) + ".*" + message):
        read_shortages(path)
