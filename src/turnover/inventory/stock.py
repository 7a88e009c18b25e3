"""Stock on hand, lot by lot: what is usable, expired or quarantined, what will expire unused, and how
much a new order can add before it would expire (``turnover.inventory.expiry``).

Every location x drug is planned from its lots. A lot-less on-hand snapshot is one lot with no lot
number and no expiry. Expired lots (expiry on or before the as-of date) and quarantined (recalled)
lots are not available: they stay on the lot list with their status and an action, but leave the
inventory position.

The lots of all series are projected at once (arrays over lots, one step per lot rank): a chain's
60,000 series and their lots take well under a second. The numbers are those of projecting each
series on its own with ``expiry.cap_for_stock``, to the last bit: the same operations in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover.inventory.expiry import UsageCurve, UsageCurves, expiry_caps, places, project_fefo_rows

LOT_COLUMNS = ["location_id", "drug_id", "lot", "expiry_date", "units", "status", "projected_used_units",
               "projected_waste_units", "projected_waste_value", "action"]
STOCK_COLUMNS = ["location_id", "drug_id", "usable_on_hand_units", "expired_units", "quarantined_units",
                 "projected_waste_units", "projected_waste_value", "used_by_stock_units", "expiry_cap_units"]
NUMPY_SEQUENTIAL_SUM = 8  # numpy adds fewer values than this one after another from 0.0 (pairwise beyond)


def lot_status(lots: pd.DataFrame, quarantine: pd.DataFrame, as_of: date) -> pd.Series:
    """``usable``, ``expired`` (expiry on or before ``as_of``) or ``quarantined`` (matched by a recall)."""
    recalled = set(zip(quarantine["location_id"], quarantine["drug_id"], quarantine["lot"].fillna(""), strict=True))
    keys = zip(lots["location_id"], lots["drug_id"], lots["lot"].fillna(""), strict=True)
    # Compared as timestamps at midnight: .dt.date of a column with no expiry at all (a lot-less on-hand count)
    # is not dates, and comparing it with a date raised.
    expiry = pd.to_datetime(lots["expiry_date"]).dt.normalize()
    expired = (expiry <= pd.Timestamp(as_of)).to_numpy(dtype=bool) if len(lots) else np.array([], dtype=bool)
    status = np.where([k in recalled for k in keys], "quarantined", np.where(expired, "expired", "usable"))
    return pd.Series(status, index=lots.index, dtype=object)


def project_stock(series: pd.DataFrame, lots: pd.DataFrame, quarantine: pd.DataFrame,
                  curves: UsageCurves | Mapping[tuple[str, str], UsageCurve], as_of: date,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lot rows with status, projected use and waste; and per series the stock figures the policy needs.

    Args:
        series: per location x drug ``on_order_units``, ``lead_time_days``, ``shelf_life_days``, ``unit_cost``.
        lots: ``location_id, drug_id, lot, expiry_date, units``.
        quarantine: ``turnover.inventory.recalls.match_recalls`` rows.
        curves: expected use per (location, drug): ``expiry.usage_table``, or ``UsageCurve`` by key.
    """
    if not isinstance(curves, UsageCurves):
        keys = pd.MultiIndex.from_tuples(list(curves), names=["location_id", "drug_id"]) if curves else (
            pd.MultiIndex.from_arrays([[], []], names=["location_id", "drug_id"]))
        curves = UsageCurves.from_curves(keys, list(curves.values()))
    day_after = as_of + timedelta(days=1)
    n = len(series)
    lots = lots.assign(status=lot_status(lots, quarantine, as_of)) if len(lots) else lots.assign(status=[])
    # Each lot's series (rows of ``series``; a series that appears twice takes its lots each time).
    owner, lot_index = _lots_of(series, lots)
    held = lots.iloc[lot_index]
    status = held["status"].to_numpy(dtype=object)
    usable = status == "usable"
    units = held["units"].to_numpy(dtype=float)
    expiry = pd.to_datetime(held["expiry_date"]).to_numpy().astype("datetime64[D]")
    days = np.where(np.isnat(expiry), math.inf,
                    np.maximum((expiry - np.datetime64(day_after, "D")).astype(np.int64), 0).astype(float))
    curve_row = curves.rows(series["location_id"], series["drug_id"])
    has_curve = curve_row >= 0
    used, used_total, cap = _fefo(series, curves, curve_row, owner[usable], units[usable], days[usable])
    cost = pd.to_numeric(series["unit_cost"], errors="coerce").to_numpy(dtype=float)
    waste = units[usable] - used
    u_owner = owner[usable]
    usable_units = _sums(units[usable], u_owner, n)
    waste_sum = _sums(waste, u_owner, n)
    used_total = np.where(has_curve, used_total, usable_units)
    stock = pd.DataFrame({
        "location_id": series["location_id"].to_numpy(), "drug_id": series["drug_id"].to_numpy(),
        "usable_on_hand_units": usable_units,
        "expired_units": _sums(units[status == "expired"], owner[status == "expired"], n),
        "quarantined_units": _sums(units[status == "quarantined"], owner[status == "quarantined"], n),
        "projected_waste_units": waste_sum, "projected_waste_value": waste_sum * cost,
        "used_by_stock_units": used_total, "expiry_cap_units": cap,
    }, columns=STOCK_COLUMNS)
    return _lot_rows(held, usable, used, waste, cost, owner), stock


def _lots_of(series: pd.DataFrame, lots: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(series row, lot row) of every lot a series holds: by series row, its usable lots first, each in lot order."""
    if not len(lots) or not len(series):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes, uniques = pd.MultiIndex.from_frame(lots[["location_id", "drug_id"]]).factorize()
    wanted = uniques.get_indexer(pd.MultiIndex.from_frame(series[["location_id", "drug_id"]]))
    pairs = pd.DataFrame({"code": wanted, "owner": np.arange(len(series))}).merge(
        pd.DataFrame({"code": codes, "lot": np.arange(len(lots))}), on="code")
    owner, index = pairs["owner"].to_numpy(dtype=np.int64), pairs["lot"].to_numpy(dtype=np.int64)
    not_usable = lots["status"].to_numpy(dtype=object)[index] != "usable"
    order = np.lexsort((index, not_usable, owner))
    return owner[order], index[order]


def _fefo(series: pd.DataFrame, curves: UsageCurves, curve_row: np.ndarray, owner: np.ndarray, units: np.ndarray,
          days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``expiry.cap_for_stock`` for every series with a curve: (units of each usable lot used before it expires,
    units used of all stock held and on order, the expiry cap of a new order), per lot and per series.

    Each series' lots and its order on the way (a fresh lot after the lead time) are used first-expiry-first-
    out: the k-th lot of every series is projected in step k, against what the series' earlier lots used.
    """
    n = len(series)
    rows = np.flatnonzero(curve_row >= 0)
    lead = series["lead_time_days"].to_numpy().astype(np.int64)
    shelf_days = pd.to_numeric(series["shelf_life_days"], errors="coerce").to_numpy(dtype=float)
    shelf = np.where(np.isnan(shelf_days), math.inf, shelf_days)
    with_curve = curve_row[owner] >= 0
    entry_owner = np.concatenate([owner[with_curve], rows])
    entry_units = np.concatenate([units[with_curve],
                                  series["on_order_units"].to_numpy(dtype=float)[rows]])
    entry_days = np.concatenate([days[with_curve], lead[rows] + shelf[rows]])
    used_entry = project_fefo_rows(curves, curve_row, entry_owner, entry_units, entry_days)
    used = units.copy()
    used[with_curve] = used_entry[: int(with_curve.sum())]
    # used_total sums the entries in the order cap_for_stock holds them: each series' lots, then its order.
    held_order = np.lexsort((places(entry_owner), entry_owner))
    used_total = _sums(used_entry[held_order], entry_owner[held_order], n)
    cap = np.full(n, math.inf)
    cap[rows] = expiry_caps(curves, curve_row[rows], used_total[rows], lead[rows], shelf[rows])
    return used, used_total, cap


def _sums(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Per owner (0 .. n-1), ``values.sum()`` of its values in the order given, as numpy adds them: one after
    another from 0.0 for fewer than ``NUMPY_SEQUENTIAL_SUM`` values (as ``bincount`` does), pairwise beyond."""
    out = np.bincount(owner, weights=values, minlength=n).astype(float)
    counts = np.bincount(owner, minlength=n)
    for many in np.flatnonzero(counts >= NUMPY_SEQUENTIAL_SUM):
        out[many] = values[owner == many].sum()
    return out


def _lot_rows(held: pd.DataFrame, usable: np.ndarray, used: np.ndarray, waste: np.ndarray,
              cost: np.ndarray, owner: np.ndarray) -> pd.DataFrame:
    """One row per lot held: usable lots with their projected use, waste and action; the others (expired,
    quarantined) with their action only: a lot that cannot be used has no projected use or waste (empty)."""
    status = held["status"].to_numpy(dtype=object)
    n = len(held)
    used_units, waste_units, waste_value = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    used_units[usable], waste_units[usable] = used, waste
    waste_value[usable] = waste * cost[owner[usable]]
    action = np.where(status == "expired", "expired: remove from stock and return or destroy",
                      "quarantined: recalled, see quarantine list").astype(object)
    expiry = held["expiry_date"].to_numpy()
    fine = usable & ~(waste_units >= 0.5)
    action[fine] = "ok: projected to be used before expiry"
    for i in np.flatnonzero(usable & (waste_units >= 0.5)):
        action[i] = _action(waste_units[i], expiry[i])
    return pd.DataFrame({
        "location_id": held["location_id"].to_numpy(), "drug_id": held["drug_id"].to_numpy(),
        "lot": held["lot"].to_numpy(), "expiry_date": expiry, "units": held["units"].to_numpy(dtype=float),
        "status": status, "projected_used_units": used_units, "projected_waste_units": waste_units,
        "projected_waste_value": waste_value, "action": action,
    }, columns=LOT_COLUMNS)


def _action(waste_units: float, expiry) -> str:
    if waste_units < 0.5:
        return "ok: projected to be used before expiry"
    when = f" before {pd.Timestamp(expiry).date()}" if not pd.isna(expiry) else ""
    return f"return / transfer: {waste_units:.0f} units projected to expire unused{when}"
