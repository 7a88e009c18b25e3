"""The demo's short-dated colchicine lot: moved before it expires, end to end (files, warehouse, the receiver's
order and every reason)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import LATE_MAY, LATE_NOVEMBER
from turnover import schema
from turnover.inventory.ordering import round_up_to_packs
from turnover.io.warehouse import open_warehouse

COLCHICINE, LOT, UNIT_COST, PACK = "00143319601", "CO2406S", 1.10, 30  # turnover.demo.synthetic's colchicine


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"drug_id": str, "location_id": str, "from_location_id": str,
                                    "to_location_id": str, "lot": str}, encoding="utf-8-sig")


def output(demo_warehouse, as_of, prefix: str) -> pd.DataFrame:
    path = next(p for p in demo_warehouse["outputs"][as_of] if p.name.startswith(prefix) and p.parent.name == "out")
    return read(path)


def test_the_short_dated_colchicine_lot_goes_to_a_store_that_will_use_it_before_it_expires(demo_warehouse):
    transfers = output(demo_warehouse, LATE_NOVEMBER, "transfers_")
    moved = transfers[transfers["lot"] == LOT]
    assert len(moved) >= 1 and set(moved["from_location_id"]) == {"STORE-03"}
    assert set(moved["to_location_id"]) <= {"STORE-01", "STORE-02"} and (moved["drug_id"] == COLCHICINE).all()
    assert (moved["expiry_date"] == "2027-01-06").all() and moved["drug_name"].str.startswith("Colchicine").all()
    assert list(moved["value_saved"]) == pytest.approx(list(moved["units"] * UNIT_COST), abs=0.005)
    assert (moved["units"] <= moved["receiver_need_units"]).all()
    assert moved["units"].sum() <= moved["lot_waste_units"].iloc[0] + 0.5
    assert moved["reason"].str.contains("STORE-03 is expected to leave").all()
    # The expiry-risk row: the transferred units beside the old columns, and the waste left.
    risk = output(demo_warehouse, LATE_NOVEMBER, "expiry_risk_").set_index("lot")
    lot = risk.loc[LOT]
    assert lot.transferred_units == moved["units"].sum()
    assert lot.waste_after_transfer_units == pytest.approx(lot.projected_waste_units - lot.transferred_units, abs=1)
    assert lot.action.startswith("return / transfer")  # the old column as before
    for receiver in moved["to_location_id"]:
        assert receiver in lot.transferred_to


def test_the_receiving_store_orders_less_by_what_arrives_and_both_reasons_say_why(demo_warehouse):
    transfers = output(demo_warehouse, LATE_NOVEMBER, "transfers_")
    moved = transfers[transfers["lot"] == LOT]
    pars = output(demo_warehouse, LATE_NOVEMBER, "par_levels_").set_index(["location_id", "drug_id"])
    for receiver, units in moved.groupby("to_location_id")["units"].sum().items():
        row = pars.loc[(receiver, COLCHICINE)]
        assert row.on_order_units == 0  # the snapshot's, as before; the transfer is counted beside it
        before = round_up_to_packs(max(row.par_level_units - row.usable_on_hand_units - row.on_order_units, 0), PACK)
        after = round_up_to_packs(max(row.par_level_units - row.usable_on_hand_units - row.on_order_units - units, 0),
                                  PACK)
        assert row.binding_constraint != "expiry cap"
        assert row.order_packs == after < before, (row.order_packs, before, after)
        assert f"{units:,.0f} units (lot {LOT}, expiring 2027-01-06) to come by transfer from STORE-03" in row.reason
    sender = pars.loc[("STORE-03", COLCHICINE)]
    assert f"transfer {moved['units'].iloc[0]:,.0f} units of lot {LOT}" in sender.reason
    with open_warehouse(demo_warehouse["path"], read_only=True) as con:
        stored = con.execute(f"select to_location_id, units from {schema.TRANSFERS} where run_id = ? and lot = ?",
                             [f"run-{LATE_NOVEMBER}", LOT]).fetchall()
        incoming = con.execute(f"select sum(transfer_in_units) from {schema.PAR_LEVELS} where run_id = ? and "
                               "drug_id = ?", [f"run-{LATE_NOVEMBER}", COLCHICINE]).fetchone()[0]
        summary = con.execute(f"select summary from {schema.RUNS} where run_id = ?",
                              [f"run-{LATE_NOVEMBER}"]).fetchone()[0]
    assert sorted(stored) == sorted(zip(moved["to_location_id"], moved["units"], strict=True))
    assert incoming == moved["units"].sum() and '"transfers": ' in summary


def test_the_colchicine_lot_stays_put_in_may_when_its_own_store_will_use_it_in_time(demo_warehouse):
    transfers = output(demo_warehouse, LATE_MAY, "transfers_")
    assert LOT not in set(transfers["lot"])
    assert list(transfers.columns[:4]) == ["from_location_id", "to_location_id", "drug_id", "drug_name"]
