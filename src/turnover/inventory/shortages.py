"""Drug shortages: which catalog drugs are in a current FDA shortage, and what to offer instead.

A drug is in shortage when its 11-digit NDC is a shortage record's package NDC, or its first nine
digits (labeler + product) are one of the record's product NDCs, and the record's status is one of
``policy.shortage.statuses`` (default: Current). A record that names no NDC (the FDA's own list
gives only ingredients) matches drugs whose generic name begins its generic name.

A shortage applies from FDA's first posting of it (``initial_posting_date``; a record without one applies
whatever the date): a backdated run or a replay week does not plan a shortage posted after its as-of
(:func:`shortages_known_on`). A shortage that has ended carries a status outside ``statuses`` (Resolved)
and is not planned either; the records give no date for the end.

A drug in shortage is planned with a longer lead time and at least the shortage service level
(``policy.shortage``): replenishment is slower and less certain. Alternatives are other catalog
drugs stocked at the same location with the same generic name, or else the same therapeutic class
(ATC level 4, the first five characters), with usable stock on hand.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from turnover.settings import ShortageSettings

ATC_CLASS_CHARS = 5
MAX_ALTERNATIVES = 5


def _norm(text) -> str:
    return str(text).strip().lower() if isinstance(text, str) else ""


def shortages_known_on(shortages: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The shortage records that had begun on ``as_of``: posted by FDA on or before it (``initial_posting_date``),
    or with no posting date (the scraped list, older files: they cannot be placed in time)."""
    if "initial_posting_date" not in shortages:
        return shortages
    posted = pd.to_datetime(shortages["initial_posting_date"])
    return shortages[(posted.isna() | (posted <= pd.Timestamp(as_of))).to_numpy()].reset_index(drop=True)


def match_shortages(catalog: pd.DataFrame, shortages: pd.DataFrame, settings: ShortageSettings,
                    as_of: date | None = None) -> pd.DataFrame:
    """One row per catalog drug in a flagged shortage: ``drug_id, shortage_status, shortage_generic_name,
    shortage_availability, shortage_updated``.

    Args:
        catalog: ``drug_id`` (11-digit NDCs where known) and ``generic_name``.
        shortages: ``turnover.io.fda.read_shortages`` rows.
        as_of: only the records posted by then count (:func:`shortages_known_on`); None: every record.
    """
    columns = ["drug_id", "shortage_status", "shortage_generic_name", "shortage_availability", "shortage_updated"]
    if as_of is not None:
        shortages = shortages_known_on(shortages, as_of)
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
    if series.empty:
        return {}
    location = series["location_id"].to_numpy(dtype=object)
    drug = series["drug_id"].to_numpy(dtype=object)
    generic = series["generic_name"].map(_norm).to_numpy(dtype=object)
    atc_class = series["atc_code"].fillna("").str[:ATC_CLASS_CHARS].to_numpy(dtype=object)
    short = series["drug_id"].isin(short_drugs).to_numpy()
    stocked = (series["usable_on_hand_units"] > 0).to_numpy() & ~short
    # Stocked rows by (location, generic) and (location, ATC class), each list in series order.
    by_generic: dict[tuple, list[int]] = {}
    by_class: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(stocked):
        by_generic.setdefault((location[i], generic[i]), []).append(i)
        by_class.setdefault((location[i], atc_class[i]), []).append(i)
    names, units = series["drug_name"].to_numpy(dtype=object), series["usable_on_hand_units"].to_numpy(dtype=float)
    atc_codes = series["atc_code"].to_numpy(dtype=object)
    out: dict[tuple[str, str], str] = {}
    for i in np.flatnonzero(short):
        same_generic = [j for j in by_generic.get((location[i], generic[i]), []) if drug[j] != drug[i]] \
            if generic[i] != "" else []
        atc = str(atc_codes[i] or "")[:ATC_CLASS_CHARS]
        taken = set(same_generic)
        same_class = [j for j in by_class.get((location[i], atc), []) if drug[j] != drug[i] and j not in taken] \
            if len(atc) == ATC_CLASS_CHARS else []
        words = [f"{names[j]} ({drug[j]}, {kind}): {units[j]:g} on hand"
                 for kind, rows in (("same generic", same_generic), (f"same class {atc}", same_class)) for j in rows]
        out[(location[i], drug[i])] = "; ".join(words[:MAX_ALTERNATIVES]) or "no alternative in stock"
    return out
