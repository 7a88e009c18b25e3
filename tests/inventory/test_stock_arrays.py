"""The whole-run array versions of expiry, stock and shortages give exactly what the one-series code they
replaced gave (kept here as the reference: the package's one-series functions are now the arrays' one-row
case): same floats to the last bit, same rows in the same order."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from turnover import calendar
from turnover.inventory.expiry import UsageCurve, UsageCurves, usage_curves, usage_table
from turnover.inventory.shortages import ATC_CLASS_CHARS, MAX_ALTERNATIVES, _norm, alternatives
from turnover.inventory.stock import LOT_COLUMNS, STOCK_COLUMNS, lot_status, project_stock

AS_OF = date(2026, 11, 22)
DAY_AFTER = AS_OF + timedelta(days=1)
KEYS = [("S1", "D1"), ("S1", "D2"), ("S2", "D1"), ("S2", "D3")]


def reference_cumulative_days(curve: UsageCurve) -> np.ndarray:
    """``[0, D(1), D(2), ...]`` of one curve, as it was written before the array version."""
    if not curve.starts:
        return np.zeros(1)
    bounds = [*curve.starts, calendar.add_periods(curve.starts[-1], 1, curve.period)]
    lengths = np.diff([(b - curve.day_after).days for b in bounds])
    daily = np.repeat(curve.means / lengths, lengths)
    skip = (curve.day_after - curve.starts[0]).days
    daily = daily[skip:] if skip >= 0 else np.concatenate([np.zeros(-skip), daily])
    return np.concatenate([[0.0], np.cumsum(daily)])


def reference_cumulative(curve: UsageCurve, days: float) -> float:
    table = reference_cumulative_days(curve)
    if days <= 0:
        return 0.0
    if math.isinf(days):
        return math.inf if curve.tail_units_per_day > 0 or curve.means.sum() > 0 else float(curve.means.sum())
    inside = float(table[min(int(math.floor(days)), len(table) - 1)])
    return inside + curve.tail_units_per_day * max(days - (len(table) - 1), 0)


def reference_days_of_cover(curve: UsageCurve, units: float, limit_days: int = 3 * 365) -> float:
    if units <= 0:
        return 0.0
    if reference_cumulative(curve, limit_days) < units:
        return math.inf
    lo, hi = 0, limit_days
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if reference_cumulative(curve, mid) < units else (lo, mid)
    return float(hi)


def reference_cap_for_stock(curve, lot_units, lot_days, on_order_units, lead, shelf):
    """FEFO one lot after another and the expiry cap of one series, as they were written before."""
    units, days = np.append(lot_units, on_order_units), np.append(lot_days, lead + shelf)
    used = np.zeros(len(units))
    taken = 0.0
    for i in np.argsort(days, kind="stable"):
        used[i] = float(np.clip(reference_cumulative(curve, days[i]) - taken, 0.0, units[i]))
        taken += used[i]
    used_total = float(used.sum())
    cap = math.inf
    if np.isfinite(shelf):
        cap = max(0.0, reference_cumulative(curve, lead + shelf) - max(used_total, reference_cumulative(curve, lead)))
    return used[:-1], used_total, cap


def reference_project_stock(series, lots, quarantine, curves, as_of):
    """project_stock one series at a time, as it was written before the array version."""
    day_after = as_of + timedelta(days=1)
    lots = lots.assign(status=lot_status(lots, quarantine, as_of)) if len(lots) else lots.assign(status=[])
    by_series = {key: rows for key, rows in lots.groupby(["location_id", "drug_id"], sort=False)}
    lot_rows, stock_rows = [], []
    for row in series.itertuples(index=False):
        key = (row.location_id, row.drug_id)
        held = by_series.get(key, lots.iloc[:0])
        curve = curves.get(key)
        usable = held[held["status"] == "usable"]
        shelf = float(row.shelf_life_days) if pd.notna(row.shelf_life_days) else math.inf
        cost = float(row.unit_cost) if pd.notna(row.unit_cost) else math.nan
        units = usable["units"].to_numpy(dtype=float)
        days = np.array([math.inf if pd.isna(e) else float(max((pd.Timestamp(e).date() - day_after).days, 0))
                         for e in usable["expiry_date"]], dtype=float)
        if curve is not None:
            used_lots, used_total, cap = reference_cap_for_stock(curve, units, days, row.on_order_units,
                                                                 int(row.lead_time_days), shelf)
        else:
            used_lots, used_total, cap = units.copy(), float(units.sum()), math.inf
        waste = units - used_lots
        for lot, used_units, waste_units in zip(usable.itertuples(index=False), used_lots, waste, strict=True):
            when = f" before {pd.Timestamp(lot.expiry_date).date()}" if not pd.isna(lot.expiry_date) else ""
            action = ("ok: projected to be used before expiry" if waste_units < 0.5
                      else f"return / transfer: {waste_units:.0f} units projected to expire unused{when}")
            lot_rows.append((*key, lot.lot, lot.expiry_date, lot.units, "usable", used_units, waste_units,
                             waste_units * cost, action))
        for lot in held[held["status"] != "usable"].itertuples(index=False):
            action = ("expired: remove from stock and return or destroy" if lot.status == "expired"
                      else "quarantined: recalled, see quarantine list")
            # A lot that cannot be used has no projected use or waste: empty, not 0.
            lot_rows.append((*key, lot.lot, lot.expiry_date, lot.units, lot.status, np.nan, np.nan, np.nan, action))
        stock_rows.append((*key, float(units.sum()), float(held.loc[held["status"] == "expired", "units"].sum()),
                           float(held.loc[held["status"] == "quarantined", "units"].sum()), float(waste.sum()),
                           float(waste.sum()) * cost, used_total, cap))
    return pd.DataFrame(lot_rows, columns=LOT_COLUMNS), pd.DataFrame(stock_rows, columns=STOCK_COLUMNS)


def same(a, b) -> bool:
    """Equal to the bit, NaN where NaN (and -0.0 apart from 0.0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))))


def curve(means, tail) -> UsageCurve:
    return UsageCurve([DAY_AFTER + timedelta(weeks=k) for k in range(len(means))], "week", np.array(means), DAY_AFTER,
                      tail)


means_st = st.lists(st.floats(0, 60, allow_subnormal=False), min_size=13, max_size=13)


@settings(max_examples=80, deadline=None)
@given(
    curves=st.lists(st.one_of(st.none(), st.tuples(means_st, st.floats(0, 9))), min_size=4, max_size=4),
    lots=st.lists(st.tuples(st.sampled_from(range(5)), st.sampled_from(["A", "B", None]), st.floats(0, 300),
                            st.one_of(st.none(), st.integers(-20, 400))), max_size=12),
    on_order=st.lists(st.floats(0, 100), min_size=4, max_size=4),
    leads=st.lists(st.integers(0, 20), min_size=4, max_size=4),
    shelves=st.lists(st.one_of(st.none(), st.integers(1, 500)), min_size=4, max_size=4),
    costs=st.lists(st.one_of(st.none(), st.floats(0.01, 50)), min_size=4, max_size=4),
    recalled=st.sampled_from([None, "A", "B"]),
)
def test_stock_by_lot_for_all_series_at_once_is_each_series_projected_on_its_own(curves, lots, on_order, leads,
                                                                                  shelves, costs, recalled):
    series = pd.DataFrame({"location_id": [k[0] for k in KEYS], "drug_id": [k[1] for k in KEYS],
                           "on_order_units": on_order, "lead_time_days": leads,
                           "shelf_life_days": [np.nan if s is None else float(s) for s in shelves],
                           "unit_cost": [np.nan if c is None else c for c in costs]})
    # Lots of series 4 belong to no series; lots come in any order.
    owners = [*KEYS, ("S9", "D9")]
    lot_frame = pd.DataFrame([(*owners[o], lot, None if d is None else pd.Timestamp(AS_OF + timedelta(days=d)), u)
                              for o, lot, u, d in lots], columns=["location_id", "drug_id", "lot", "expiry_date", "units"])
    quarantine = pd.DataFrame({"location_id": ["S1", "S2"], "drug_id": ["D1", "D3"], "lot": [recalled, recalled]})
    by_key = {key: curve(*c) for key, c in zip(KEYS, curves, strict=True) if c is not None}
    expected_lots, expected_stock = reference_project_stock(series, lot_frame, quarantine, by_key, AS_OF)
    lot_rows, stock = project_stock(series, lot_frame, quarantine, by_key, AS_OF)
    assert list(stock.columns) == STOCK_COLUMNS and list(lot_rows.columns) == LOT_COLUMNS
    assert stock[["location_id", "drug_id"]].equals(expected_stock[["location_id", "drug_id"]])
    for column in STOCK_COLUMNS[2:]:
        assert same(stock[column], expected_stock[column]), column
    assert len(lot_rows) == len(expected_lots)
    for column in ["location_id", "drug_id", "lot", "status", "action"]:
        assert lot_rows[column].tolist() == expected_lots[column].tolist(), column
    for column in ["units", "projected_used_units", "projected_waste_units", "projected_waste_value"]:
        assert same(lot_rows[column], expected_lots[column]), column


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(means_st, st.floats(0, 9)), min_size=1, max_size=5),
       days=st.lists(st.one_of(st.floats(-3, 1200), st.just(math.inf), st.integers(0, 120).map(float)), min_size=1,
                     max_size=20),
       units=st.lists(st.floats(-5, 3000), min_size=1, max_size=20))
def test_the_curves_of_a_run_read_as_each_series_curve(rows, days, units):
    keys = pd.MultiIndex.from_tuples([("S", f"D{i}") for i in range(len(rows))])
    forecast = pd.DataFrame([(k[0], k[1], DAY_AFTER + timedelta(weeks=w), m[w])
                             for k, (m, _) in zip(keys, rows, strict=True) for w in range(13)],
                            columns=["location_id", "drug_id", "period_start", "mean"])
    series = pd.DataFrame({"location_id": [k[0] for k in keys], "drug_id": [k[1] for k in keys],
                           "annual_usage_units": [365.0 * t for _, t in rows]})
    table = usage_table(forecast, series, "week", DAY_AFTER)
    one_by_one = usage_curves(forecast, series, "week", DAY_AFTER)
    for i, key in enumerate(keys):
        c = one_by_one[key]
        r = np.full(len(days), i)
        assert same(table.cumulative(r, days), [reference_cumulative(c, d) for d in days])
        r = np.full(len(units), i)
        assert same(table.days_of_cover(r, units), [reference_days_of_cover(c, u) for u in units])
    assert same(table.days_of_cover(np.array([-1]), [5.0]), [math.inf])  # no curve
    from_curves = UsageCurves.from_curves(keys, [one_by_one[k] for k in keys])
    assert same(from_curves.cumulative_days, table.cumulative_days)
    for i, key in enumerate(keys):
        reference = reference_cumulative_days(one_by_one[key])
        assert same(table.cumulative_days[i, : len(reference)], reference)


def reference_alternatives(series, short_drugs):
    """alternatives() one location and shortage at a time, as it was written before."""
    out = {}
    for location, rows in series.groupby("location_id", sort=False):
        stocked = rows[(rows["usable_on_hand_units"] > 0) & ~rows["drug_id"].isin(short_drugs)]
        for row in rows[rows["drug_id"].isin(short_drugs)].itertuples(index=False):
            same_generic = stocked[(stocked["generic_name"].map(_norm) == _norm(row.generic_name))
                                   & (stocked["drug_id"] != row.drug_id) & (_norm(row.generic_name) != "")]
            atc = str(row.atc_code or "")[:ATC_CLASS_CHARS]
            same_class = stocked[(stocked["atc_code"].fillna("").str[:ATC_CLASS_CHARS] == atc)
                                 & (stocked["drug_id"] != row.drug_id)] if len(atc) == ATC_CLASS_CHARS else stocked[:0]
            # errors="ignore": the code before raised KeyError when a same-generic drug had another ATC class
            picks = [("same generic", same_generic),
                     (f"same class {atc}", same_class.drop(same_generic.index, errors="ignore"))]
            words = [f"{r.drug_name} ({r.drug_id}, {kind}): {r.usable_on_hand_units:g} on hand"
                     for kind, frame in picks for r in frame.itertuples(index=False)]
            out[(location, row.drug_id)] = "; ".join(words[:MAX_ALTERNATIVES]) or "no alternative in stock"
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["S1", "S2"]), st.sampled_from(["albuterol", "Albuterol ", "", None, "x"]),
                          st.sampled_from(["R03AC02", "R03AC03", "R03A", None, "J05AH02"]), st.floats(-1, 30)),
                min_size=1, max_size=14),
       st.sets(st.integers(0, 13), max_size=4))
def test_alternatives_for_all_shortages_at_once_are_those_found_one_by_one(rows, short):
    series = pd.DataFrame([(loc, f"D{i}", f"Drug {i}", generic, atc, units)
                           for i, (loc, generic, atc, units) in enumerate(rows)],
                          columns=["location_id", "drug_id", "drug_name", "generic_name", "atc_code",
                                   "usable_on_hand_units"])
    short_drugs = {f"D{i}" for i in short}
    assert alternatives(series, short_drugs) == reference_alternatives(series, short_drugs)
