"""Transfers before expiry on literal micro-frames: which lot moves, where, and how many units."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from turnover.inventory.expiry import UsageCurve, UsageCurves
from turnover.inventory.stock import project_stock
from turnover.inventory.transfers import lot_transfers, plan_transfers, series_transfers, transfer_notes, with_transfer_notes

AS_OF = date(2026, 11, 22)  # a Sunday
DAY_AFTER = AS_OF + timedelta(days=1)
DRUG = "00143319601"


def flat_curve(units_per_day: float, weeks: int = 13) -> UsageCurve:
    starts = [DAY_AFTER + timedelta(weeks=k) for k in range(weeks)]
    return UsageCurve(starts, "week", np.full(weeks, 7 * units_per_day), DAY_AFTER, units_per_day)


def series_of(*rows) -> pd.DataFrame:
    """(location, drug, unit cost) rows, each with no order on the way, a 2-day lead time, a 3-year shelf life."""
    return pd.DataFrame([{"location_id": loc, "drug_id": drug, "unit_cost": cost, "on_order_units": 0.0,
                          "lead_time_days": 2, "shelf_life_days": 1095} for loc, drug, cost in rows])


def lots_of(*rows) -> pd.DataFrame:
    """(location, drug, lot, days until expiry, units) rows."""
    return pd.DataFrame([{"location_id": loc, "drug_id": drug, "lot": lot, "expiry_date": AS_OF + timedelta(days=days),
                          "units": units} for loc, drug, lot, days, units in rows])


def plan(series, lots, use_per_day: dict, quarantine=None, transfer_days: int = 2):
    """(transfers, lot rows, stock, curves) for ``series`` holding ``lots``, each location using
    ``use_per_day[location]`` units a day; ``quarantine``: recalled lots (``recalls.match_recalls`` rows)."""
    if quarantine is None:
        quarantine = pd.DataFrame(columns=["location_id", "drug_id", "lot"])
    curves = {(r.location_id, r.drug_id): flat_curve(use_per_day[r.location_id]) for r in series.itertuples()}
    keys = pd.MultiIndex.from_tuples(list(curves), names=["location_id", "drug_id"])
    table = UsageCurves.from_curves(keys, list(curves.values()))
    lot_rows, stock = project_stock(series, lots, quarantine, table, AS_OF)
    return plan_transfers(lot_rows, stock, series, table, AS_OF, transfer_days), lot_rows, stock, table


def test_no_transfer_when_no_other_location_needs_the_stock():
    # A's lot: 100 units, 30 days, 1 a day: 70 to waste. B holds 500 units good for years: it needs none.
    series = series_of(("A", DRUG, 1.10), ("B", DRUG, 1.10))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0), ("B", DRUG, "LONG", 900, 500.0))
    transfers, lot_rows, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0})
    assert lot_rows.set_index("lot").loc["SHORT", "projected_waste_units"] == pytest.approx(70)
    assert transfers.empty


def test_a_transfer_never_moves_more_than_the_lots_projected_waste():
    # A wastes 100 - 30 = 70; B has nothing and uses 10 a day: 290 units before the lot expires.
    series = series_of(("A", DRUG, 1.10), ("B", DRUG, 1.10))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0))
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 10.0})
    [row] = transfers.itertuples()
    assert (row.from_location_id, row.to_location_id, row.lot, row.units) == ("A", "B", "SHORT", 70)
    assert row.value_saved == pytest.approx(70 * 1.10)
    assert row.expiry_date == AS_OF + timedelta(days=31)


def test_a_transfer_never_moves_more_than_the_receiver_uses_before_expiry_beyond_its_own_stock():
    # B uses 1 a day and holds 10 units: of days 2 .. 30 after the as-of (30 usable days, 2 in transit) it needs
    # D(30) - max(D(2), 10) = 30 - 10 = 20 units more than it holds.
    series = series_of(("A", DRUG, 1.10), ("B", DRUG, 1.10))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0), ("B", DRUG, "OWN", 900, 10.0))
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0})
    [row] = transfers.itertuples()
    assert row.units == 20 and row.receiver_need_units == 20 and row.lot_waste_units == pytest.approx(70)


def test_the_transfer_arrives_after_transfer_days_so_use_before_then_does_not_count():
    # B holds nothing and uses 1 a day: with a 10-day transfer it can take D(30) - D(10) = 20.
    series = series_of(("A", DRUG, 1.10), ("B", DRUG, 1.10))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0))
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0}, transfer_days=10)
    assert list(transfers["units"]) == [20]
    # B holding 5 (used up before the transfer arrives) changes nothing: the lot serves days 10 .. 30 either way.
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0), ("B", DRUG, "OWN", 900, 5.0))
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0}, transfer_days=10)
    assert list(transfers["units"]) == [20]
    # A lot expiring before a transfer could arrive stays put.
    lots = lots_of(("A", DRUG, "SHORT", 2, 100.0))
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0}, transfer_days=2)
    assert transfers.empty


def test_a_quarantined_lot_is_never_transferred():
    series = series_of(("A", DRUG, 1.10), ("B", DRUG, 1.10))
    lots = lots_of(("A", DRUG, "RECALLED", 31, 100.0), ("A", DRUG, "EXPIRED", 0, 50.0))
    quarantine = pd.DataFrame({"location_id": ["A"], "drug_id": [DRUG], "lot": ["RECALLED"]})
    transfers, lot_rows, _, _ = plan(series, lots, {"A": 1.0, "B": 10.0}, quarantine=quarantine)
    assert list(lot_rows["status"]) == ["quarantined", "expired"]
    assert transfers.empty
    # The same lot, not recalled, would go: B needs 280 units in the 28 days after the transfer.
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 10.0})
    assert list(transfers["units"]) == [70]


def test_the_largest_value_goes_first_when_receivers_cannot_take_everything():
    # Two senders of the same drug, each wasting 70 units, at different unit costs; C needs 100 in all.
    series = series_of(("A", DRUG, 1.0), ("B", DRUG, 5.0), ("C", DRUG, 1.0))
    lots = lots_of(("A", DRUG, "CHEAP", 31, 100.0), ("B", DRUG, "DEAR", 31, 100.0), ("C", DRUG, "OWN", 900, 200.0))
    # C holds 200 and uses 10 a day: by day 30 it needs 300, i.e. 100 beyond its own stock.
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0, "C": 10.0})
    assert list(zip(transfers["lot"], transfers["units"], strict=True)) == [("DEAR", 70), ("CHEAP", 30)]
    assert list(transfers["value_saved"]) == pytest.approx([350.0, 30.0])
    assert transfers["units"].sum() <= 100


def test_a_sender_splits_its_waste_between_receivers_and_never_sends_to_itself():
    series = series_of(("A", DRUG, 2.0), ("B", DRUG, 2.0), ("C", DRUG, 2.0))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0))
    # A wastes 70; B needs 30 - 2 = 28 (1 a day from day 2), C needs 2 x 28 = 56: C first, then B the rest.
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 1.0, "C": 2.0})
    assert list(zip(transfers["to_location_id"], transfers["units"], strict=True)) == [("C", 56), ("B", 14)]
    assert "A" not in set(transfers["to_location_id"])


def test_a_drug_without_a_unit_cost_is_still_transferred_with_no_value():
    series = series_of(("A", DRUG, math.nan), ("B", DRUG, math.nan))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0))
    transfers, _, _, _ = plan(series, lots, {"A": 1.0, "B": 10.0})
    assert list(transfers["units"]) == [70] and transfers["value_saved"].isna().all()


def test_the_receiver_counts_the_transfer_as_stock_and_the_lot_row_shows_what_is_left():
    series = series_of(("A", DRUG, 1.10), ("B", DRUG, 1.10))
    lots = lots_of(("A", DRUG, "SHORT", 31, 100.0), ("B", DRUG, "OWN", 900, 10.0))
    transfers, lot_rows, stock, curves = plan(series, lots, {"A": 1.0, "B": 1.0})
    moved = series_transfers(series, stock, transfers, curves, 2).set_index("location_id")
    assert (moved.loc["B", "transfer_in_units"], moved.loc["A", "transfer_out_units"]) == (20, 20)
    assert moved.loc["B", "used_by_stock_units"] == pytest.approx(stock.set_index("location_id").loc[
        "B", "used_by_stock_units"] + 20)
    # B's new lot (arriving in 2 days, good for 3 years) can serve only what stock and the transfer do not.
    assert moved.loc["B", "expiry_cap_units"] == pytest.approx(flat_curve(1.0).cumulative(2 + 1095) - 30)
    rows = lot_transfers(lot_rows, transfers).set_index("lot")
    assert rows.loc["SHORT", "transferred_units"] == 20
    assert rows.loc["SHORT", "waste_after_transfer_units"] == pytest.approx(70 - 20)
    assert rows.loc["SHORT", "transferred_to"] == "B (20)"
    assert rows.loc["OWN", "transferred_units"] == 0
    pars = series[["location_id", "drug_id"]]
    notes = transfer_notes(pars, transfers)
    assert notes.iloc[0].startswith("transfer 20 units of lot SHORT") and "to B" in notes.iloc[0]
    assert with_transfer_notes(pd.Series(["Order 2 packs.", "Steady use."]), notes).iloc[0].startswith(
        "Order 2 packs; transfer 20 units")
    assert "to come by transfer from A" in notes.iloc[1]
