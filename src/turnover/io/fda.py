"""Reading FDA drug recalls and shortages (openFDA) into normalised frames, one row per record.

openFDA publishes both as JSON: the API (``api.fda.gov/drug/enforcement.json``,
``api.fda.gov/drug/shortages.json``) and the bulk downloads answer ``{"meta": ..., "results": [...]}``;
the documentation's example files hold one record under ``"result"``. Recalls are FDA Recall
Enterprise System enforcement reports (recall number, class, firm, product text, lots in
``code_info``, initiation and report dates); shortages come from the FDA Drug Shortage Database (one record per package NDC).
openFDA data is public domain (CC0 1.0, open.fda.gov/license).

Accepted inputs (gzip when the name ends in ``.gz``; JSON when the text starts with ``{`` or ``[``):

- JSON: ``{"results": [...]}``, ``{"result": {...}}``, a bare record, or an array of records. The
  API's zero-match answer ``{"error": {"code": "NOT_FOUND"}}`` reads as no records.
- Recall CSV, columns mapped by alias: the API field names (``openfda_package_ndc`` /
  ``openfda_product_ndc`` as list-ish text); the scanner shape (``category, firm, reason, ...``);
  the IRES shape (``recall_id, recall_type, firm, product, reason, ...``). Only drug records are kept.
  An IRES ``recall_id`` that is a bare number is an event id (no recall number yet): ``event-<id>``.
- Shortage CSV: the flattened API (``PACKAGE_NDC, GENERIC_NAME, STATUS, ...``, any case, list fields
  as Python-list text), and FDA's scraped current-shortage list (``drug, status, ...``), whose
  'Currently in Shortage' reads as 'Current'; from that list the scraped header row (drug
  'Generic Name or Active Ingredient') and rows whose status is not a status are dropped.

A file that cannot be read raises ``IngestError`` naming the file and the columns, line or record.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import logging
import re
import zlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from turnover.io.csv_files import detect_encoding
from turnover.io.ingest import IngestError
from turnover.io.warehouse import normalize_ndc

log = logging.getLogger(__name__)

RECALL_COLUMNS = (
    "recall_number", "classification", "status", "reason_for_recall", "product_description", "code_info",
    "recall_initiation_date", "report_date", "recalling_firm", "package_ndcs", "product_ndcs", "lots", "source_record",
)
SHORTAGE_COLUMNS = (
    "package_ndc", "product_ndcs", "generic_name", "status", "availability", "therapeutic_category",
    "shortage_reason", "update_date", "initial_posting_date", "source_record",
)
DATE_COLUMNS = ("recall_initiation_date", "report_date", "update_date", "initial_posting_date")
RECALL_ALIASES = {
    "recall_number": ("recall_number", "recall_id"), "event_id": ("event_id",), "classification": ("classification",),
    "status": ("status",), "reason_for_recall": ("reason_for_recall", "reason"),
    "product_description": ("product_description", "product"), "code_info": ("code_info",),
    "recall_initiation_date": ("recall_initiation_date",), "report_date": ("report_date",),
    "recalling_firm": ("recalling_firm", "firm"), "product_type": ("product_type", "category", "recall_type"),
    "openfda_package_ndc": ("openfda_package_ndc",), "openfda_product_ndc": ("openfda_product_ndc",),
}
SHORTAGE_ALIASES = {
    "package_ndc": ("package_ndc",), "generic_name": ("generic_name", "drug"), "status": ("status",),
    "availability": ("availability",), "therapeutic_category": ("therapeutic_category", "therapeutic_class"),
    "shortage_reason": ("shortage_reason", "reason"), "update_date": ("update_date",),
    "initial_posting_date": ("initial_posting_date",),
    "openfda_product_ndc": ("openfda_product_ndc",),
}
RECALL_REQUIRED = ("product_description", "classification")
SHORTAGE_REQUIRED = ("package_ndc", "generic_name", "status")
DRUG_TYPES = frozenset({"drug", "drugs"})
RECALL_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d")
SHORTAGE_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%Y%m%d")
LIST_STATUSES = {"currently in shortage": "Current", "current": "Current", "resolved": "Resolved",
                 "to be discontinued": "To Be Discontinued"}
LIST_HEADER_DRUG = "generic name or active ingredient"

PACKAGE_NDC_IN_TEXT = re.compile(r"(?<![\d-])(\d{4,5}-\d{3,4}-\d{1,2})(?![\d-])")
PRODUCT_NDC_IN_TEXT = re.compile(r"\bNDC(?:\s*(?:#|No\b\.?|Numbers?\b|Codes?\b|:))*\s*(\d{4,5}-\d{3,4})(?![\d-])", re.I)
# "Lot", "Lots", "Lot #", "Lot No.", "Lot Number(s):", "Batch", or a label up to its colon
# ("Lot numbers and exp dates:"); the label may not cross a digit, so lot codes are never eaten.
LOT_LABEL = re.compile(
    r"\b(?:lots?|batch(?:es)?)\b(?:[^:\d\n]{0,40}:|(?:\s*(?:#|nos?\b\.?|numbers?(?:\(s\))?|codes?|:))*)", re.I)
LOT_TOKEN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
DATE_TOKEN = re.compile(
    rf"\d{{1,2}}[-/.]{MONTH}[-/.]\d{{2,4}}|{MONTH}[-/.]\d{{2,4}}|\d{{1,2}}[-/.](?:\d{{2}}|\d{{4}})"
    r"|\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}", re.I)
# After one of these words the rest of the clause is an expiry date, an NDC or a UPC, not a lot.
NOT_LOT_WORD = re.compile(r"(?:exp\w*|use|best|ndc|upc|gtin|serial|sn)\W*", re.I)


def read_recalls(path: str | Path) -> pd.DataFrame:
    """Drug recall records of an openFDA enforcement file (JSON or CSV), one row per record.

    Columns: ``RECALL_COLUMNS``. ``package_ndcs`` are 11-digit NDCs from ``openfda.package_ndc`` and
    the 3-segment NDCs in the product text; ``product_ndcs`` are 9-digit product NDCs from
    ``openfda.product_ndc``, 2-segment NDCs labelled "NDC" in the text, and every package's first
    9 digits; ``lots`` are parsed best-effort from ``code_info`` by ``lot_codes``.

    Raises:
        IngestError: not an enforcement file, a CSV without a description or classification column,
            a ragged CSV line, or a date that is neither YYYYMMDD nor YYYY-MM-DD.
    """
    path = Path(path)
    content = _read_content(path)
    if isinstance(content, str):
        header, rows = _csv_rows(path, content)
        columns = _column_map(path, header, RECALL_ALIASES, RECALL_REQUIRED)
        raws = [_recall_fields({k: row.get(c, "") if c else "" for k, c in columns.items()}, line, f"line {line}")
                for line, row in rows]
    else:
        records = _json_records(path, content, "openFDA enforcement", RECALL_REQUIRED)
        raws = [_recall_fields(_flatten_openfda(r), n, f"record {n}") for n, r in records]
    drugs = [raw for raw in raws if not raw["product_type"] or raw["product_type"].lower() in DRUG_TYPES]
    return _recall_frame(path, drugs)


def read_shortages(path: str | Path) -> pd.DataFrame:
    """Shortage records of an openFDA drug-shortages file (JSON or CSV), one row per record.

    Columns: ``SHORTAGE_COLUMNS``. ``package_ndc`` is 11 digits, or None when absent or not a
    hyphenated NDC; ``product_ndcs`` are 9-digit NDCs from ``openfda.product_ndc`` plus the package's
    own product. ``status`` is as given; FDA's scraped list says 'Currently in Shortage' for 'Current'.
    ``initial_posting_date`` is when FDA first posted the shortage (None when the file does not say).

    Raises:
        IngestError: not a shortages file, a CSV without package_ndc, generic_name or status (the
            scraped list needs only drug and status), a ragged CSV line, or an unreadable date.
    """
    path = Path(path)
    content = _read_content(path)
    if isinstance(content, str):
        header, rows = _csv_rows(path, content)
        is_list = "drug" in header and "generic_name" not in header
        required = ("generic_name", "status") if is_list else SHORTAGE_REQUIRED
        columns = _column_map(path, header, SHORTAGE_ALIASES, required)
        raws = [({k: row.get(c, "") if c else "" for k, c in columns.items()}, line, f"line {line}") for line, row in rows]
        if is_list:
            raws = _clean_shortage_list(path, raws)
    else:
        records = _json_records(path, content, "openFDA drug shortages", ("generic_name", "status"))
        raws = [(_flatten_openfda(r), n, f"record {n}") for n, r in records]
    return _shortage_frame(path, raws)


def normalize_product_ndc(text: str) -> str | None:
    """The 9-digit (5-4) product NDC of a 2-segment NDC: 4-4 -> '0'+4+4, 5-3 -> 5+'0'+3, 5-4 as is.

    Nine bare digits are taken as already normalised; anything else (a package NDC, a 10-digit
    number whose split cannot be known) is None.
    """
    text = (text or "").strip()
    if re.fullmatch(r"\d{9}", text):
        return text
    match = re.fullmatch(r"(\d{4,5})-(\d{3,4})", text)
    if match is None:
        return None
    labeler, product = match.groups()
    if len(labeler) == 4 and len(product) == 4:
        return "0" + labeler + product
    if len(labeler) == 5 and len(product) == 3:
        return labeler + "0" + product
    return labeler + product if len(labeler) == 5 else None


def lot_codes(code_info: str) -> list[str]:
    """Upper-case lot codes named in an enforcement ``code_info`` text, best effort, in order.

    Only text after the first "Lot"/"Batch" label is read. A lot is a token with a digit and at
    least 3 characters; dates (31-Mar-2013, 12/2025, 2026-03-31, a year after a month), NDC-shaped
    tokens and whatever follows "Exp", "Use by", "NDC" or "UPC" in the same clause are not lots.
    """
    first = LOT_LABEL.search(code_info or "")
    if first is None:
        return []
    text = LOT_LABEL.sub(";", code_info[first.start():])
    lots: list[str] = []
    for clause in re.split(r"[,;\n]", text):
        previous = ""
        for token in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-/.]*", clause):
            token = token.rstrip("./-")
            if NOT_LOT_WORD.fullmatch(token):
                break
            if _is_lot(token, previous):
                lots.append(token.upper())
            previous = token
    return _unique(lots)


def _is_lot(token: str, previous: str) -> bool:
    upper = token.upper()
    if len(upper) < 3 or not any(c.isdigit() for c in upper) or not LOT_TOKEN.fullmatch(upper):
        return False
    if DATE_TOKEN.fullmatch(token) or PACKAGE_NDC_IN_TEXT.fullmatch(token):
        return False
    return not (len(upper) == 4 and upper.isdigit() and re.fullmatch(MONTH, previous, re.I))


def _recall_fields(values: dict, source_record: int, where: str) -> dict:
    """One record's fields as text (lists for the openfda NDCs), with its position for messages."""
    raw = {key: _text(values.get(key)) for key in RECALL_ALIASES if not key.startswith("openfda_")}
    raw["openfda_package_ndc"] = _ndc_list(values.get("openfda_package_ndc"))
    raw["openfda_product_ndc"] = _ndc_list(values.get("openfda_product_ndc"))
    raw["source_record"], raw["where"] = source_record, where
    return raw


def _recall_frame(path: Path, raws: list[dict]) -> pd.DataFrame:
    texts = [raw["product_description"] for raw in raws]
    package_lists = _normalise_packages(
        [raw["openfda_package_ndc"] + PACKAGE_NDC_IN_TEXT.findall(text) for raw, text in zip(raws, texts, strict=True)])
    rows = []
    for raw, text, packages in zip(raws, texts, package_lists, strict=True):
        products = [normalize_product_ndc(p) for p in raw["openfda_product_ndc"] + PRODUCT_NDC_IN_TEXT.findall(text)]
        rows.append({
            **{k: raw[k] for k in ("classification", "status", "reason_for_recall", "product_description", "code_info")},
            "recall_number": _recall_number(raw),
            "recall_initiation_date": _parse_date(path, raw, "recall_initiation_date", RECALL_DATE_FORMATS),
            "report_date": _parse_date(path, raw, "report_date", RECALL_DATE_FORMATS),
            "recalling_firm": raw["recalling_firm"],
            "package_ndcs": packages,
            "product_ndcs": _unique([p for p in products if p] + [p[:9] for p in packages]),
            "lots": lot_codes(raw["code_info"]),
            "source_record": raw["source_record"],
        })
    return _frame(rows, RECALL_COLUMNS)


def _recall_number(raw: dict) -> str:
    number, event = raw["recall_number"], raw["event_id"]
    if number and not number.isdigit():
        return number
    event = event or number  # IRES puts the event id in recall_id until FDA assigns a recall number
    return f"event-{event}" if event else f"unnumbered-{raw['source_record']}"


def _clean_shortage_list(path: Path, raws: list[tuple[dict, int, str]]) -> list[tuple[dict, int, str]]:
    """The scraped list's rows with a real drug and status, the status in the API's words."""
    kept = []
    for values, line, where in raws:
        status = LIST_STATUSES.get(values["status"].strip().lower())
        if status is None or values["generic_name"].strip().lower() in {"", LIST_HEADER_DRUG}:
            continue
        kept.append(({**values, "status": status}, line, where))
    if len(kept) < len(raws):
        log.info("%s: dropped %d scraped header or malformed row(s)", path, len(raws) - len(kept))
    return kept


def _shortage_frame(path: Path, raws: list[tuple[dict, int, str]]) -> pd.DataFrame:
    packages = _normalise_packages([[_text(values.get("package_ndc"))] for values, _, _ in raws])
    rows = []
    for (values, number, where), package in zip(raws, packages, strict=True):
        package_ndc = package[0] if package else None
        products = [normalize_product_ndc(p) for p in _ndc_list(values.get("openfda_product_ndc"))]
        raw = {name: _text(values.get(name)) for name in ("update_date", "initial_posting_date")} | {"where": where}
        rows.append({
            **{k: _text(values.get(k)) for k in ("generic_name", "status", "availability", "shortage_reason")},
            "package_ndc": package_ndc,
            "product_ndcs": _unique([p for p in products if p] + ([package_ndc[:9]] if package_ndc else [])),
            "therapeutic_category": _as_list(values.get("therapeutic_category")),
            "update_date": _parse_date(path, raw, "update_date", SHORTAGE_DATE_FORMATS),
            "initial_posting_date": _parse_date(path, raw, "initial_posting_date", SHORTAGE_DATE_FORMATS),
            "source_record": number,
        })
    return _frame(rows, SHORTAGE_COLUMNS)


def _frame(rows: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    """The rows as a frame with exactly ``columns``: dates datetime64, ``source_record`` int64."""
    data = {name: [row[name] for row in rows] for name in columns}
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in data.items()}, columns=list(columns))
    for name in set(DATE_COLUMNS) & set(columns):
        frame[name] = pd.to_datetime(pd.Series(data[name], dtype=object)).astype("datetime64[ns]")
    frame["source_record"] = frame["source_record"].astype("int64")
    return frame


def _normalise_packages(lists: list[list[str]]) -> list[list[str]]:
    """Each list's NDCs at 11 digits (one warehouse call for the file); others dropped."""
    distinct = _unique(ndc for ndcs in lists for ndc in ndcs if ndc)
    as_11 = dict(zip(distinct, normalize_ndc(distinct), strict=True)) if distinct else {}
    return [_unique(as_11[n] for n in ndcs if n and re.fullmatch(r"\d{11}", as_11[n] or "")) for ndcs in lists]


def _parse_date(path: Path, raw: dict, column: str, formats: tuple[str, ...]) -> datetime | None:
    text = raw[column]
    if not text:
        return None
    for date_format in formats:
        try:
            return datetime.strptime(text, date_format)
        except ValueError:
            continue
    expected = " or ".join(f.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD") for f in formats)
    raise IngestError(f"{path}: {raw['where']}, column {column}: not a date ({expected}): {text!r}")


def _read_content(path: Path) -> str | object:
    """The file's parsed JSON, or its text when it is not JSON (CSV)."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix.lower() == ".gz" else path.read_bytes()
    except (EOFError, zlib.error) as exc:
        raise IngestError(f"{path}: not a complete gzip file ({exc}); was it cut off in transfer?") from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc
    try:
        text = data.decode(detect_encoding(data[:1 << 16]))  # UTF-8 with or without BOM, or UTF-16
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # old FDA exports; every byte decodes, nothing is lost
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: not valid JSON: line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise IngestError(f"{path}: not an openFDA file: JSON nested too deeply to read") from exc


def _json_records(path: Path, data: object, kind: str, record_keys: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(1-based number, record) pairs of any accepted JSON shape; every record must have ``record_keys``."""
    if isinstance(data, list):
        records = data
    elif isinstance(data, dict) and "results" in data:
        records = data["results"]
    elif isinstance(data, dict) and isinstance(data.get("result"), dict):
        records = [data["result"]]
    elif isinstance(data, dict) and isinstance(data.get("error"), dict) and data["error"].get("code") == "NOT_FOUND":
        records = []  # the API's answer to a search with no match
    elif isinstance(data, dict) and set(record_keys) & data.keys():
        records = [data]
    else:
        found = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise IngestError(f"{path}: not an {kind} file: expected 'results', 'result' or a record, found {found}")
    if not isinstance(records, list):
        raise IngestError(f"{path}: not an {kind} file: 'results' is not a list")
    for number, record in enumerate(records, start=1):
        missing = [key for key in record_keys if key not in record] if isinstance(record, dict) else list(record_keys)
        if missing:
            raise IngestError(f"{path}: not an {kind} file: record {number} has no {', '.join(missing)}")
    return list(enumerate(records, start=1))


def _flatten_openfda(record: dict) -> dict:
    """The record with its ``openfda`` block's fields as ``openfda_<field>``."""
    openfda = record.get("openfda") if isinstance(record.get("openfda"), dict) else {}
    return {**record, **{f"openfda_{key}": value for key, value in openfda.items()}}


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Lower-case header and (first line number, row) pairs; blank lines skipped, ragged lines refused."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower().replace(".", "_") for name in next(reader, [])]
        if not any(header):
            raise IngestError(f"{path}: empty file (no header line)")
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise IngestError(f"{path}: line 1: duplicated column name(s) {duplicated}")
        rows, last_line = [], reader.line_num
        for fields in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(header):
                raise IngestError(f"{path}: line {line}: {len(fields)} fields where the header has {len(header)}")
            rows.append((line, dict(zip(header, (field.strip() for field in fields), strict=True))))
    except csv.Error as exc:
        raise IngestError(f"{path}: line {reader.line_num}: {exc}") from exc
    return header, rows


def _column_map(path: Path, header: list[str], aliases: dict, required: tuple[str, ...]) -> dict[str, str | None]:
    """Each canonical field's column in ``header`` (first alias present), or None."""
    columns = {key: next((name for name in names if name in header), None) for key, names in aliases.items()}
    missing = [" or ".join(aliases[key]) for key in required if columns[key] is None]
    if missing:
        raise IngestError(f"{path}: missing column(s): {', '.join(missing)}")
    return columns


def _as_list(value: object) -> list[str]:
    """A list field as strings: a JSON list, or Python-list text ("['a', 'b']"), else one item."""
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    text = _text(value)
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, (list, tuple)):
            return [str(item).strip() for item in parsed if str(item).strip()]
    return [text]


def _ndc_list(value: object) -> list[str]:
    """A list of NDCs, also from plain text separated by commas, semicolons, bars or spaces."""
    return [ndc for item in _as_list(value) for ndc in re.split(r"[\s,;|]+", item) if ndc]


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
