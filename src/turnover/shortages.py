"""Drug shortages: which catalog drugs are in a current FDA shortage, and what to offer instead.

A drug is in shortage when its 11-digit NDC is a shortage record's package NDC, or its first nine
digits (labeler + product) are one of the record's product NDCs, and the record's status is one of
``policy.shortage.statuses`` (default: Current). A record that names no NDC (the FDA's own list
gives only ingredients) matches drugs whose generic name begins its generic name.

A drug in shortage is planned with a longer lead time and at least the shortage service level
(``policy.shortage``): replenishment is slower and less certain. Alternatives are other catalog
drugs stocked at the same location with the same generic name, or else the same therapeutic class
(ATC level 4, the first five characters), with usable stock on hand.
"""

from __future__ import annotations

import pandas as pd

from turnover.settings import ShortageSettings

ATC_CLASS_CHARS = 5
MAX_ALTERNATIVES = 5


def _norm(text) -> str:
    return str(text).strip().lower() if isinstance(text, str) else ""


def match_shortages(catalog: pd.DataFrame, shortages: pd.DataFrame, settings: ShortageSettings) -> pd.DataFrame:
    """One row per catalog drug in a flagged shortage: ``drug_id, shortage_status, shortage_generic_name,
    shortage_availability, shortage_updated``.

    Args:
        catalog: ``drug_id`` (11-digit NDCs where known) and ``generic_name``.
        shortages: ``turnover.io.fda.read_shortages`` rows.
    """
    columns = ["drug_id", "shortage_status", "shortage_generic_name", "shortage_availability", "shortage_updated"]
    if shortages.empty or catalog.empty:
        return pd.DataFrame(columns=columns)
    wanted = {s.lower() for s in settings.statuses}
    active = shortages[shortages["status"].map(_norm).isin(wanted)]
    by_package, by_product, by_name = {}, {}, []
    for rec in active.itertuples(index=False):
        products = list(rec.product_ndcs) if rec.product_ndcs is not None else []
        if isinstance(rec.package_ndc, str) and rec.package_ndc:
            by_package.setdefault(rec.package_ndc, rec)
        for product in products:
            by_product.setdefault(product, rec)
        if not (isinstance(rec.package_ndc, str) and rec.package_ndc) and not products:
            by_name.append(rec)
    rows = []
    for drug_id, generic in zip(catalog["drug_id"], catalog.get("generic_name", pd.Series(index=catalog.index)),
                                strict=True):
        rec = by_package.get(drug_id) or by_product.get(str(drug_id)[:9])
        if rec is None and _norm(generic):
            rec = next((r for r in by_name if _norm(r.generic_name).startswith(_norm(generic))), None)
        if rec is not None:
            rows.append((drug_id, rec.status, rec.generic_name, rec.availability, rec.update_date))
    return pd.DataFrame(rows, columns=columns)


def alternatives(series: pd.DataFrame, short_drugs: set[str]) -> dict[tuple[str, str], str]:
    """For each (location, drug in shortage): alternatives in stock there, in words.

    Args:
        series: per location x drug ``drug_name``, ``generic_name``, ``atc_code``, ``usable_on_hand_units``.
        short_drugs: drug ids in shortage (never offered as an alternative).
    """
    out: dict[tuple[str, str], str] = {}
    for location, rows in series.groupby("location_id", sort=False):
        stocked = rows[(rows["usable_on_hand_units"] > 0) & ~rows["drug_id"].isin(short_drugs)]
        for row in rows[rows["drug_id"].isin(short_drugs)].itertuples(index=False):
            same_generic = stocked[(stocked["generic_name"].map(_norm) == _norm(row.generic_name))
                                   & (stocked["drug_id"] != row.drug_id) & (_norm(row.generic_name) != "")]
            atc = str(row.atc_code or "")[:ATC_CLASS_CHARS]
            same_class = stocked[(stocked["atc_code"].fillna("").str[:ATC_CLASS_CHARS] == atc)
                                 & (stocked["drug_id"] != row.drug_id)] if len(atc) == ATC_CLASS_CHARS else stocked[:0]
            picks = [("same generic", same_generic), (f"same class {atc}", same_class.drop(same_generic.index))]
            words = [f"{r.drug_name} ({r.drug_id}, {kind}): {r.usable_on_hand_units:g} on hand"
                     for kind, frame in picks for r in frame.itertuples(index=False)]
            out[(location, row.drug_id)] = "; ".join(words[:MAX_ALTERNATIVES]) or "no alternative in stock"
    return out
