"""Stock on hand, lot by lot: what is usable, expired or quarantined, what will expire unused, and how
much a new order can add before it would expire (``turnover.expiry``).

Every location x drug is planned from its lots. A lot-less on-hand snapshot is one lot with no lot
number and no expiry. Expired lots (expiry on or before the as-of date) and quarantined (recalled)
lots are not available: they stay on the lot list with their status and an action, but leave the
inventory position.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover.expiry import UsageCurve, cap_for_stock

LOT_COLUMNS = ["location_id", "drug_id", "lot", "expiry_date", "units", "status", "projected_used_units",
               "projected_waste_units", "projected_waste_value", "action"]
STOCK_COLUMNS = ["location_id", "drug_id", "usable_on_hand_units", "expired_units", "quarantined_units",
                 "projected_waste_units", "projected_waste_value", "used_by_stock_units", "expiry_cap_units"]


def _as_date(value) -> date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


def lot_status(lots: pd.DataFrame, quarantine: pd.DataFrame, as_of: date) -> pd.Series:
    """``usable``, ``expired`` (expiry on or before ``as_of``) or ``quarantined`` (matched by a recall)."""
    recalled = set(zip(quarantine["location_id"], quarantine["drug_id"], quarantine["lot"].fillna(""), strict=True))
    keys = zip(lots["location_id"], lots["drug_id"], lots["lot"].fillna(""), strict=True)
    expiry = pd.to_datetime(lots["expiry_date"])
    expired = (expiry.dt.date <= as_of).fillna(False).to_numpy() if len(lots) else np.array([], dtype=bool)
    status = np.where([k in recalled for k in keys], "quarantined", np.where(expired, "expired", "usable"))
    return pd.Series(status, index=lots.index, dtype=object)


def project_stock(series: pd.DataFrame, lots: pd.DataFrame, quarantine: pd.DataFrame,
                  curves: dict[tuple[str, str], UsageCurve], as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lot rows with status, projected use and waste; and per series the stock figures the policy needs.

    Args:
        series: per location x drug ``on_order_units``, ``lead_time_days``, ``shelf_life_days``, ``unit_cost``.
        lots: ``location_id, drug_id, lot, expiry_date, units``.
        quarantine: ``turnover.recalls.match_recalls`` rows.
        curves: expected use per (location, drug).
    """
    day_after = as_of + timedelta(days=1)
    lots = lots.assign(status=lot_status(lots, quarantine, as_of)) if len(lots) else lots.assign(status=[])
    lots = lots.sort_values(["location_id", "drug_id"], kind="stable").reset_index(drop=True)
    # the lots as arrays, each series' lots a slice (no frame operations per series)
    key_of = list(zip(lots["location_id"], lots["drug_id"], strict=True))
    bounds: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(key_of):
        bounds.setdefault(key, [i, i])[1] = i + 1
    units_all = lots["units"].to_numpy(dtype=float)
    status_all = lots["status"].to_numpy(dtype=object)
    expiry_all = lots["expiry_date"].to_numpy(dtype=object)
    expiry_days = (pd.to_datetime(lots["expiry_date"]) - pd.Timestamp(day_after)).dt.days.to_numpy(dtype=float)
    usable_days_all = np.where(np.isnan(expiry_days), math.inf, np.maximum(expiry_days, 0.0))
    lot_ids = lots["lot"].to_numpy(dtype=object)
    lot_rows, stock_rows = [], []
    for row in series.itertuples(index=False):
        key = (row.location_id, row.drug_id)
        start, stop = bounds.get(key, (0, 0))
        curve = curves.get(key)
        status = status_all[start:stop]
        usable = np.flatnonzero(status == "usable") + start
        shelf = float(row.shelf_life_days) if pd.notna(row.shelf_life_days) else math.inf
        lead = int(row.lead_time_days)
        cost = float(row.unit_cost) if pd.notna(row.unit_cost) else math.nan
        units = units_all[usable]
        days = usable_days_all[usable]
        if curve is not None:
            used_lots, used_total, cap = cap_for_stock(curve, units, days, row.on_order_units, lead, shelf)
        else:
            used_lots, used_total, cap = units.copy(), float(units.sum()), math.inf
        waste = units - used_lots
        for i, used_units, waste_units in zip(usable, used_lots, waste, strict=True):
            lot_rows.append((*key, lot_ids[i], expiry_all[i], units_all[i], "usable", used_units, waste_units,
                             waste_units * cost, _action(waste_units, expiry_all[i])))
        for i in range(start, stop):
            if status_all[i] != "usable":
                action = ("expired: remove from stock and return or destroy" if status_all[i] == "expired"
                          else "quarantined: recalled, see quarantine list")
                lot_rows.append((*key, lot_ids[i], expiry_all[i], units_all[i], status_all[i], 0.0, 0.0, 0.0, action))
        held = units_all[start:stop]
        stock_rows.append((
            *key, float(units.sum()), float(held[status == "expired"].sum()),
            float(held[status == "quarantined"].sum()), float(waste.sum()),
            float(waste.sum()) * cost, used_total, cap,
        ))
    return pd.DataFrame(lot_rows, columns=LOT_COLUMNS), pd.DataFrame(stock_rows, columns=STOCK_COLUMNS)


def _action(waste_units: float, expiry) -> str:
    if waste_units < 0.5:
        return "ok: projected to be used before expiry"
    when = f" before {pd.Timestamp(expiry).date()}" if _as_date(expiry) else ""
    return f"return / transfer: {waste_units:.0f} units projected to expire unused{when}"
