"""Recalls: find recalled lots in stock, to quarantine them and take them out of the position.

A lot matches a recall when its drug's 11-digit NDC is one of the recall's package NDCs, or its
first nine digits (labeler + product) one of the product NDCs, and then:

- the recall names lots (``code_info``): the lot is one of them (whole token, case-insensitive);
- the recall names no lot: every lot of the product matches;
- stock with no lot on record (a lot-less on-hand snapshot) matches any recall of its product and
  is quarantined until someone checks the lot numbers: the safe side for patients.

Matched stock leaves the inventory position whatever the recall's status or class; the quarantine
list says which recall, its class and why.

A run applies only the recalls known on its as-of (:func:`recalls_known_on`): those in FDA's enforcement
report by then (``report_date``), or initiated by then when the report date is missing. A backdated run does
not quarantine a lot for a recall issued later.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

QUARANTINE_COLUMNS = [
    "location_id", "drug_id", "lot", "expiry_date", "units", "recall_number", "classification", "status",
    "reason_for_recall", "matched_by",
]


def _names_lots(recall) -> bool:
    return bool(list(recall.lots)) if recall.lots is not None else False


def _lot_in(lot: str, recall) -> bool:
    lot = lot.strip().upper()
    if lot in {str(x).strip().upper() for x in recall.lots}:
        return True
    return re.search(rf"(?<![A-Z0-9]){re.escape(lot)}(?![A-Z0-9])", str(recall.code_info or "").upper()) is not None


def recalls_known_on(recalls: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The recalls a pharmacy could know of on ``as_of``: reported on or before it (the enforcement report's
    ``report_date``, when FDA publishes the recall), or, with no report date, initiated on or before it. A
    recall with neither date is kept: it cannot be placed in time, and quarantining is the safe side.

    Args:
        recalls: ``turnover.io.fda.read_recalls`` rows (``report_date``, ``recall_initiation_date``).
    """
    known_on = pd.to_datetime(recalls["report_date"]).fillna(pd.to_datetime(recalls["recall_initiation_date"]))
    return recalls[(known_on.isna() | (known_on <= pd.Timestamp(as_of))).to_numpy()].reset_index(drop=True)


def match_recalls(lots: pd.DataFrame, recalls: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows: one per (stock lot, recall) match, with how it matched.

    Args:
        lots: ``location_id, drug_id, lot, expiry_date, units`` (``lot`` may be null).
        recalls: ``turnover.io.fda.read_recalls`` rows.
    """
    if lots.empty or recalls.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    by_package: dict[str, list] = {}
    by_product: dict[str, list] = {}
    for rec in recalls.itertuples(index=False):
        for ndc in rec.package_ndcs if rec.package_ndcs is not None else []:
            by_package.setdefault(ndc, []).append(rec)
        for ndc in rec.product_ndcs if rec.product_ndcs is not None else []:
            by_product.setdefault(ndc, []).append(rec)
    # Only lots of a recalled package or product can match: the rest are never looked at one by one.
    drug = lots["drug_id"].astype(str)
    recalled = drug.isin(list(by_package)) | drug.str[:9].isin(list(by_product))
    rows = []
    for stock in lots[recalled.to_numpy()].itertuples(index=False):
        drug = str(stock.drug_id)
        candidates = {r.recall_number: ("product NDC", r) for r in by_product.get(drug[:9], [])}
        candidates |= {r.recall_number: ("package NDC", r) for r in by_package.get(drug, [])}
        for how, rec in candidates.values():
            lot = stock.lot if isinstance(stock.lot, str) and stock.lot.strip() else None
            if not _names_lots(rec) and "LOT" not in str(rec.code_info or "").upper():
                matched_by = f"{how}; recall names no lot: every lot"
            elif lot is None:
                matched_by = f"{how}; no lot on record: quarantined until the lot is checked"
            elif _lot_in(lot, rec):
                matched_by = f"{how} and lot"
            else:
                continue
            rows.append((stock.location_id, drug, lot, stock.expiry_date, stock.units, rec.recall_number,
                         rec.classification, rec.status, rec.reason_for_recall, matched_by))
    return pd.DataFrame(rows, columns=QUARANTINE_COLUMNS)
