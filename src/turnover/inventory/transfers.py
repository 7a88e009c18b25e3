"""Transfers before expiry: stock that will expire unused at one location, moved to another that will use it.

A usable lot at location A with projected waste (``turnover.inventory.stock.project_stock``: FEFO against A's expected
use) can go to a location B of the same drug that is expected to need more than its own stock covers before
the lot expires. The transfer takes ``T = policy.transfer_days`` days, so B can use the lot on days
``[T, E)`` after the as-of (``E``: days until the lot's expiry; usable through the day before). B's spare use
is the expiry cap's formula (``turnover.inventory.expiry``) with the transfer as the lead time:

    spare_B = max(0, D_B(E) - max(D_B(T), U_B))

``D_B`` is B's expected use curve and ``U_B`` the units B's own stock is expected to use (its usable lots,
FEFO, and its order on the way): the lot serves only demand that B's stock does not, so a transfer never
pushes B's own stock into waste. Each transfer is ``floor(min(waste left in A's lot, spare_B))`` whole
dispensing units (a transfer of loose units, as a dispensing file counts them: the catalog does not say which
packs must stay whole), at least one.

Greedy by value: of every (lot, receiver) pair, the one saving the most (units x unit cost; a drug without a
cost by units, after those with one) goes first; the lot's waste and the receiver's spare then shrink (the
units sent count in ``U_B``) and the next pair is taken, until no pair moves a whole unit. Drugs are
independent, so the loop runs per drug. Only usable lots move: expired and quarantined (recalled) lots never
do, and a lot with no expiry never wastes.

The receiver counts the transfer as stock on order (its order falls by what arrives, its expiry cap by the
units it will use); the sender's position loses the units sent (:func:`series_transfers`).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover.inventory.expiry import UsageCurves, expiry_caps

TRANSFER_COLUMNS = ["from_location_id", "to_location_id", "drug_id", "lot", "expiry_date", "units", "unit_cost",
                    "value_saved", "lot_waste_units", "receiver_need_units", "reason"]
EPSILON = 1e-9  # float noise in whole-unit floors: 6.999999999 units are 7


def receiver_need_units(curves: UsageCurves, rows: np.ndarray, used_by_stock_units: np.ndarray, transfer_days: int,
                         usable_days: np.ndarray) -> np.ndarray:
    """Per receiver, the units it is expected to use in ``[transfer_days, usable_days)`` beyond what its own stock
    (``used_by_stock_units``) covers: ``max(0, D(E) - max(D(T), U))``; 0 when the lot expires before it arrives."""
    rows = np.asarray(rows, dtype=np.int64)
    days = np.asarray(usable_days, dtype=float)
    lead = np.full(len(rows), transfer_days, dtype=np.int64)
    spare = expiry_caps(curves, rows, np.asarray(used_by_stock_units, dtype=float), lead, days - transfer_days)
    return np.where(days > transfer_days, spare, 0.0)


def plan_transfers(lots: pd.DataFrame, stock: pd.DataFrame, series: pd.DataFrame, curves: UsageCurves, as_of: date,
                   transfer_days: int) -> pd.DataFrame:
    """Transfer suggestions (:data:`TRANSFER_COLUMNS`), largest value saved first.

    Args:
        lots: ``project_stock``'s lot rows (``status``, ``projected_waste_units`` per lot).
        stock: ``project_stock``'s per-series frame (``used_by_stock_units``), row for row with ``series``.
        series: the run's series (``location_id, drug_id, unit_cost``): the possible receivers.
        curves: expected use per series (``expiry.usage_table``).
        as_of: the run's as-of date (day 0).
        transfer_days: days a transfer takes to arrive.
    """
    waste = pd.to_numeric(lots["projected_waste_units"], errors="coerce").to_numpy(dtype=float) if len(lots) else (
        np.zeros(0))
    movable = (lots["status"].to_numpy(dtype=object) == "usable") & (np.floor(np.nan_to_num(waste) + EPSILON) >= 1) \
        if len(lots) else np.zeros(0, dtype=bool)
    donors = lots[movable & lots["expiry_date"].notna().to_numpy(dtype=bool)] if len(lots) else lots
    if donors.empty:
        return pd.DataFrame(columns=TRANSFER_COLUMNS)
    day_after = pd.Timestamp(as_of + timedelta(days=1))
    cost = dict(zip(zip(series["location_id"], series["drug_id"], strict=True),
                    pd.to_numeric(series["unit_cost"], errors="coerce"), strict=True))
    receivers = pd.DataFrame({"location_id": series["location_id"].to_numpy(), "drug_id": series["drug_id"].to_numpy(),
                              "row": curves.rows(series["location_id"], series["drug_id"]),
                              "used": stock["used_by_stock_units"].to_numpy(dtype=float)})
    receivers = receivers[receivers["row"] >= 0].drop_duplicates(["location_id", "drug_id"], keep="last")
    rows = []
    for drug, lots_of_drug in donors.groupby("drug_id", sort=True):
        takers = receivers[receivers["drug_id"] == drug]
        if takers.empty:
            continue
        rows += _greedy(lots_of_drug, takers, curves, cost, day_after, transfer_days)
    transfers = pd.DataFrame(rows, columns=TRANSFER_COLUMNS)
    order = transfers.assign(_known=transfers["value_saved"].notna()).sort_values(
        ["_known", "value_saved", "units", "drug_id", "from_location_id", "lot", "to_location_id"],
        ascending=[False, False, False, True, True, True, True], kind="stable")
    return order.drop(columns="_known").reset_index(drop=True)


def _greedy(lots: pd.DataFrame, takers: pd.DataFrame, curves: UsageCurves, cost: dict, day_after: pd.Timestamp,
            transfer_days: int) -> list[list]:
    """One drug's transfers: the (lot, receiver) pair saving the most first, until none moves a whole unit."""
    left = lots["projected_waste_units"].to_numpy(dtype=float).copy()
    expiry = pd.to_datetime(lots["expiry_date"]).dt.normalize()
    usable_days = np.maximum((expiry - day_after).dt.days.to_numpy(dtype=float), 0.0)
    sender = lots["location_id"].to_numpy(dtype=object)
    unit_cost = np.array([cost.get((loc, d), np.nan) for loc, d in zip(sender, lots["drug_id"], strict=True)])
    taker_loc = takers["location_id"].to_numpy(dtype=object)
    taker_rows = takers["row"].to_numpy(dtype=np.int64)
    # Demand B's stock and the transfers so far serve: its own stock from day 0, a transfer only after it arrives
    # (B's use before then is not the lot's), each unit sent after the last.
    at_arrival = curves.cumulative(taker_rows, np.full(len(taker_rows), float(transfer_days)))
    used = np.maximum(takers["used"].to_numpy(dtype=float), at_arrival)
    n_lots, n_takers = len(lots), len(takers)
    lot_i, taker_j = np.repeat(np.arange(n_lots), n_takers), np.tile(np.arange(n_takers), n_lots)
    other = sender[lot_i] != taker_loc[taker_j]
    lot_i, taker_j = lot_i[other], taker_j[other]
    out = []
    while len(lot_i):
        spare = receiver_need_units(curves, taker_rows[taker_j], used[taker_j], transfer_days, usable_days[lot_i])
        units = np.floor(np.minimum(left[lot_i], spare) + EPSILON)
        keep = units >= 1
        lot_i, taker_j, units, spare = lot_i[keep], taker_j[keep], units[keep], spare[keep]
        if not len(lot_i):
            break
        value = units * unit_cost[lot_i]
        # Largest value first (a drug without a cost: largest units); ties: the earlier expiry, the receiver that
        # needs more, then the input order.
        best = np.lexsort((np.arange(len(lot_i)), -spare, usable_days[lot_i], -units,
                           -np.nan_to_num(value, nan=-1.0)))[0]
        i, j, moved = lot_i[best], taker_j[best], float(units[best])
        out.append([sender[i], taker_loc[j], lots["drug_id"].iloc[i], lots["lot"].iloc[i], expiry.iloc[i].date(),
                    moved, unit_cost[i], moved * unit_cost[i] if np.isfinite(unit_cost[i]) else np.nan,
                    float(lots["projected_waste_units"].iloc[i]), math.floor(float(spare[best]) + EPSILON),
                    transfer_reason(sender[i], taker_loc[j], lots["lot"].iloc[i], expiry.iloc[i].date(), moved,
                                    float(lots["projected_waste_units"].iloc[i]), float(spare[best]), transfer_days)])
        left[i] -= moved
        used[j] += moved
    return out


def _units(x: float) -> str:
    return f"{x:,.0f} unit" if round(x) == 1 else f"{x:,.0f} units"


def transfer_reason(sender: str, receiver: str, lot, expiry: date, units: float, waste_units: float,
                    spare_units: float, transfer_days: int) -> str:
    """Why a transfer, in a buyer's words."""
    lot_words = f"lot {lot}" if isinstance(lot, str) and lot else "the lot"
    return (f"{sender} is expected to leave {_units(waste_units)} of {lot_words} unused when it expires on "
            f"{expiry.isoformat()}; {receiver} is expected to need {_units(math.floor(spare_units + EPSILON))} more "
            f"than its own stock covers from the transfer's arrival ({transfer_days} days from now) until then: "
            f"send {_units(units)}.")


def series_transfers(series: pd.DataFrame, stock: pd.DataFrame, transfers: pd.DataFrame, curves: UsageCurves,
                     transfer_days: int) -> pd.DataFrame:
    """``stock`` (row for row with ``series``) with the transfers applied: ``transfer_in_units`` and
    ``transfer_out_units`` per series, and the receiver's ``used_by_stock_units`` and ``expiry_cap_units`` with the
    units it will use from the transfer (a new order can serve only what stock and transfers do not): its stock
    serves the first ``U`` units of demand, the transfer the next ones after it arrives, so the two together
    serve ``max(U, D(transfer_days)) + units in``."""
    keys = pd.MultiIndex.from_frame(series[["location_id", "drug_id"]])
    incoming = transfers.groupby(["to_location_id", "drug_id"])["units"].sum() if len(transfers) else pd.Series(
        dtype=float)
    outgoing = transfers.groupby(["from_location_id", "drug_id"])["units"].sum() if len(transfers) else pd.Series(
        dtype=float)
    transfer_in = incoming.reindex(keys, fill_value=0.0).to_numpy(dtype=float) if len(incoming) else np.zeros(len(keys))
    transfer_out = outgoing.reindex(keys, fill_value=0.0).to_numpy(dtype=float) if len(outgoing) else np.zeros(
        len(keys))
    out = stock.assign(transfer_in_units=transfer_in, transfer_out_units=transfer_out)
    receiving = np.flatnonzero(transfer_in > 0)
    if len(receiving):
        used = out["used_by_stock_units"].to_numpy(dtype=float).copy()
        cap = out["expiry_cap_units"].to_numpy(dtype=float).copy()
        rows = curves.rows(series["location_id"].iloc[receiving], series["drug_id"].iloc[receiving])
        at_arrival = np.where(rows >= 0, curves.cumulative(np.maximum(rows, 0), np.full(len(rows), float(transfer_days))),
                              0.0)
        used[receiving] = np.maximum(used[receiving], at_arrival) + transfer_in[receiving]
        shelf = pd.to_numeric(series["shelf_life_days"].iloc[receiving], errors="coerce").to_numpy(dtype=float)
        known = rows >= 0
        cap[receiving[known]] = expiry_caps(
            curves, rows[known], used[receiving[known]],
            series["lead_time_days"].iloc[receiving].to_numpy().astype(np.int64)[known],
            np.where(np.isnan(shelf), math.inf, shelf)[known])
        out = out.assign(used_by_stock_units=used, expiry_cap_units=cap)
    return out


def lot_transfers(lots: pd.DataFrame, transfers: pd.DataFrame) -> pd.DataFrame:
    """The lot rows with ``transferred_units`` (units suggested for transfer out), ``waste_after_transfer_units``
    and ``transferred_to`` (receivers and units, in words); the first two empty for a lot that is not usable."""
    usable = (lots["status"] == "usable").to_numpy(dtype=bool) if len(lots) else np.zeros(0, dtype=bool)
    sent = np.zeros(len(lots))
    to = np.full(len(lots), "", dtype=object)
    if len(transfers) and len(lots):
        key = pd.MultiIndex.from_frame(lots[["location_id", "drug_id", "lot"]].astype(object).fillna(""))
        by_lot = transfers.assign(_lot=transfers["lot"].astype(object).fillna("")).groupby(
            ["from_location_id", "drug_id", "_lot"], sort=False)
        units = by_lot["units"].sum()
        words = by_lot.apply(lambda g: ", ".join(f"{loc} ({u:,.0f})" for loc, u in zip(
            g["to_location_id"], g["units"], strict=True)), include_groups=False)
        sent = units.reindex(key, fill_value=0.0).to_numpy(dtype=float)
        to = words.reindex(key, fill_value="").to_numpy(dtype=object)
    waste = pd.to_numeric(lots["projected_waste_units"], errors="coerce").to_numpy(dtype=float) if len(lots) else (
        np.zeros(0))
    return lots.assign(transferred_units=np.where(usable, sent, np.nan),
                       waste_after_transfer_units=np.where(usable, waste - sent, np.nan),
                       transferred_to=to)


def transfer_notes(pars: pd.DataFrame, transfers: pd.DataFrame) -> pd.Series:
    """Per par row, the words its reason adds about transfers in and out (empty without one; joined to the
    reason's last sentence by :func:`with_transfer_notes`)."""
    notes: dict[tuple[str, str], list[str]] = {}
    for t in transfers.itertuples(index=False):
        lot = f"lot {t.lot}" if isinstance(t.lot, str) and t.lot else "a lot"
        expiry = t.expiry_date.isoformat()
        notes.setdefault((t.to_location_id, t.drug_id), []).append(
            f"{_units(t.units)} ({lot}, expiring {expiry}) to come by transfer from {t.from_location_id}: counted as "
            "on order, the order is lower by what arrives")
        notes.setdefault((t.from_location_id, t.drug_id), []).append(
            f"transfer {_units(t.units)} of {lot} (expiring {expiry}) to {t.to_location_id}, which is expected to "
            "use them before they expire")
    words = [notes.get(key) for key in zip(pars["location_id"], pars["drug_id"], strict=True)]
    return pd.Series(["; ".join(w) if w else "" for w in words], index=pars.index, dtype=object)


def with_transfer_notes(reasons: pd.Series, notes: pd.Series) -> pd.Series:
    """Each reason with its transfer note joined to its last sentence (a reason stays one or two sentences)."""
    joined = [f"{r.rstrip().rstrip('.')}; {n}." if n else r for r, n in zip(reasons, notes, strict=True)]
    return pd.Series(joined, index=reasons.index, dtype=object)
