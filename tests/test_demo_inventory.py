"""The demo's inventory realities end to end: a recalled lot, the par calendar's flu ramp, an
expiry-capped order, a shortage with its alternative, expiry risk, KPIs, and the replay."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from flows.cli import main
from tests.conftest import LATE_NOVEMBER, LATE_OCTOBER
from turnover import schema
from turnover.demo.synthetic import RECALLED_LOT, UNRECALLED_LOT
from turnover.inventory.reasons import BINDINGS
from turnover.io.warehouse import open_warehouse


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"drug_id": str, "location_id": str, "lot": str}, encoding="utf-8-sig")


def output(demo_warehouse, as_of: date, prefix: str) -> pd.DataFrame:
    path = next(p for p in demo_warehouse["outputs"][as_of] if p.name.startswith(prefix) and p.parent.name == "out")
    return read(path)


def test_the_recalled_metoprolol_lot_is_quarantined_audited_and_out_of_the_position(demo_warehouse, demo_files):
    quarantine = output(demo_warehouse, LATE_NOVEMBER, "quarantine_")
    row = quarantine[quarantine["lot"] == RECALLED_LOT].iloc[0]
    assert (row.location_id, row.recall_number, row.classification) == ("STORE-01", "D-0355-2026", "Class II")
    assert row.matched_by == "package NDC and lot" and row.drug_id == "45963067611"
    assert UNRECALLED_LOT not in set(quarantine["lot"])  # the recall names other lots only
    lots = read(demo_files.on_hand)
    held = lots[(lots["location_id"] == "STORE-01") & (lots["drug_id"] == "45963067611")]
    pars = output(demo_warehouse, LATE_NOVEMBER, "par_levels_").set_index(["location_id", "drug_id"])
    par = pars.loc[("STORE-01", "45963067611")]
    assert par.quarantined_units == row.units
    assert par.usable_on_hand_units == pytest.approx(held["units"].sum() - row.units)
    assert f"{row.units:,.0f} units recalled and quarantined: not counted as stock" in par.reason
    with open_warehouse(demo_warehouse["path"], read_only=True) as con:
        audit = con.execute(f"select run_id, lot, recall_number from {schema.RECALL_AUDIT} order by run_id").fetchall()
    assert (f"run-{LATE_NOVEMBER}", RECALLED_LOT, "D-0355-2026") in audit


def test_oseltamivir_par_calendar_rises_through_november(demo_warehouse):
    calendar = output(demo_warehouse, LATE_OCTOBER, "par_calendar_")
    weeks = [c for c in calendar.columns if c.startswith("par_")]
    assert len(weeks) == 13 and weeks[0] == "par_2026-10-26"
    november = [c for c in weeks if c[4:11] in ("2026-10", "2026-11")]
    oseltamivir = calendar[calendar["drug_name"].str.startswith("Oseltamivir")].set_index("location_id")[november]
    assert len(oseltamivir) == 3
    growth = oseltamivir.iloc[:, -1] / oseltamivir.iloc[:, 0]
    # Every store's par is higher at the end of November than at its start; at most stores it doubles.
    # (Week-to-week values are read at 99% from 1,000 paths and move by +-20% on noise alone: STORE-01, whose
    # seasonal naive repeats last November, rises by about a fifth.)
    assert (growth >= 1.15).all() and (growth >= 2).sum() >= 2, growth.to_dict()


def test_the_short_dated_slow_mover_gets_an_expiry_capped_order_that_says_so(demo_warehouse):
    pars = output(demo_warehouse, LATE_NOVEMBER, "par_levels_")
    latanoprost = pars[pars["drug_name"].str.startswith("Latanoprost")].set_index("location_id")
    capped = latanoprost[latanoprost["binding_constraint"] == "expiry cap"]
    assert len(capped) >= 2
    store = capped.loc["STORE-01"]
    assert 0 < store.order_units < store.par_level_units
    assert store.order_units <= store.expiry_cap_units
    units = f"{store.order_units:,.0f} unit{'' if store.order_units == 1 else 's'}"
    assert f"Order cut to {units}: only {store.expiry_cap_units:,.0f} can be used before a new lot expires " \
        "(21-day shelf life)" in store.reason


def test_a_drug_in_shortage_is_flagged_with_longer_lead_time_and_an_alternative(demo_warehouse):
    shortages = output(demo_warehouse, LATE_NOVEMBER, "shortages_")
    assert set(shortages["drug_id"]) == {"00487990130"}  # albuterol solution; the Tamiflu NDC is not stocked
    row = shortages.set_index("location_id").loc["STORE-01"]
    assert row.shortage_status == "Current" and row.lead_time_days == 2 + 7 and row.service_level == 0.99
    assert "Albuterol HFA 90 mcg inhaler (00173068220, same generic)" in row.alternatives


def test_expiry_risk_lists_the_expired_lot_and_the_lot_that_will_outlast_its_use(demo_warehouse):
    risk = output(demo_warehouse, LATE_NOVEMBER, "expiry_risk_").set_index("lot")
    assert risk.loc["NX2311E", "status"] == "expired" and risk.loc["NX2311E", "action"].startswith("expired")
    colchicine = risk.loc["CO2406S"]
    assert colchicine.status == "usable" and colchicine.projected_waste_units > 30
    assert colchicine.action.startswith("return / transfer")
    usable = risk[risk["status"] == "usable"]
    assert (usable["projected_used_units"] + usable["projected_waste_units"] <= usable["units"] + 1).all()  # whole units


def test_every_par_row_names_its_binding_constraint_and_carries_turnover_kpis(demo_warehouse):
    pars = output(demo_warehouse, LATE_NOVEMBER, "par_levels_")
    assert set(pars["binding_constraint"]) <= set(BINDINGS)
    assert {"seasonal rise", "expiry cap", "recall", "shortage", "dead item"} <= set(pars["binding_constraint"])
    # The reason says in words what bound the row.
    words = {"vital minimum": "Vital drug: at least", "dead item": "no use in the last 4 months, not reordered",
             "expiry cap": "before a new lot expires", "recall": "recalled and quarantined", "shortage": "FDA shortage",
             "new item": "New item:", "catalog minimum": "Catalog minimum of", "seasonal rise": "season",
             "seasonal fall": "season", "pack rounding": "rounded up to whole packs", "demand forecast": "expected in"}
    said = [words[b] in r for b, r in zip(pars["binding_constraint"], pars["reason"], strict=True)]
    assert all(said), pars.loc[[not s for s in said], ["binding_constraint", "reason"]]
    moving = pars[pars["par_level_units"] > 0]
    assert (moving["turns_at_par"].dropna() > 0).all()
    assert pars.loc[pars["lifecycle"] == "dead", "order_packs"].eq(0).all()
    with open_warehouse(demo_warehouse["path"], read_only=True) as con:
        summary = con.execute(f"select summary from {schema.RUNS} where run_id = ?", [f"run-{LATE_NOVEMBER}"]).fetchone()[0]
    assert '"turns_at_par"' in summary and '"quarantined_lots": 1' in summary


def test_the_replay_command_reports_three_policies_side_by_side(demo_warehouse, tmp_path, capsys):
    out = tmp_path / "replay"
    code = main(["replay", "--from", "2026-10-26", "--to", "2026-11-22", "--db", str(demo_warehouse["path"]),
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "4 weekly reviews" in printed and "minmax_flat365" in printed and "days_of_supply" in printed
    totals = read(out / "replay_2026-10-26_2026-11-22_totals.csv").set_index("policy")
    assert list(totals.index) == ["turnover", "minmax_flat365", "days_of_supply"]
    assert totals["fill_rate"].between(0.5, 1).all() and (totals["avg_on_hand_units"] > 0).all()
    per_series = read(out / "replay_2026-10-26_2026-11-22.csv")
    assert len(per_series) == 3 * totals.loc["turnover", "series"]
