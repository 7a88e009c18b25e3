"""Expiry (FEFO projection, the expiry cap), recalls, shortages, service tiers and KPIs: hand-worked
examples and the invariants the issue names, as property tests."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnover.calendar import window_weights
from turnover.forecasting.protection import protection_quantiles
from turnover.inventory.expiry import UsageCurve, expiry_cap_units, project_fefo
from turnover.inventory.ordering import EMPTY_SHELF_MIN_USE_PACKS
from turnover.inventory.policy import par_levels, plan_series
from turnover.inventory.recalls import match_recalls
from turnover.inventory.shortages import alternatives, match_shortages
from turnover.inventory.stock import project_stock
from turnover.inventory.tiers import abc_classes, assign_service_levels
from turnover.settings import PolicySettings

AS_OF = date(2026, 11, 22)  # a Sunday
DAY_AFTER = AS_OF + timedelta(days=1)


def flat_curve(units_per_day: float, weeks: int = 13) -> UsageCurve:
    starts = [DAY_AFTER + timedelta(weeks=k) for k in range(weeks)]
    return UsageCurve(starts, "week", np.full(weeks, 7 * units_per_day), DAY_AFTER, units_per_day)


# --- expiry ---------------------------------------------------------------------------------------

def test_the_usage_curve_spreads_weeks_evenly_and_continues_with_the_flat_tail():
    curve = UsageCurve([DAY_AFTER, DAY_AFTER + timedelta(weeks=1)], "week", np.array([7.0, 14.0]), DAY_AFTER, 3.0)
    assert curve.cumulative(3) == pytest.approx(3.0)  # 1 a day in week 1
    assert curve.cumulative(10) == pytest.approx(7 + 6)  # 2 a day in week 2
    assert curve.cumulative(16) == pytest.approx(21 + 2 * 3.0)  # then the tail, 3 a day
    assert curve.days_of_cover(13) == 10


def test_fefo_projection_matches_the_hand_worked_openboxes_example():
    # One unit a day. Lot A: 10 units expiring in 5 days -> 5 used, 5 wasted. Lot B: 10 units expiring in
    # 30 days -> the other 25 days' demand is more than enough: all 10 used. Lot C never expires: 40 used
    # of the D(inf) demand. Input order is kept.
    used = project_fefo(np.array([10.0, 40.0, 10.0]), np.array([30.0, math.inf, 5.0]), flat_curve(1.0))
    np.testing.assert_allclose(used, [10.0, 40.0, 5.0])


def test_the_expiry_cap_is_the_demand_a_new_lot_can_still_serve_before_it_expires():
    # 2 a day, lead time 3, shelf life 10: the new lot serves days 3..12, demand 20, less what stock on
    # hand serves after day 3: stock of 10 covers days 0..4, so 4 of those 20 -> cap 16.
    curve = flat_curve(2.0)
    assert expiry_cap_units(curve, used_by_stock_units=10.0, lead_time_days=3, shelf_life_days=10) == pytest.approx(16)
    # Stock below the lead time's demand: the lot still serves only days 3..12.
    assert expiry_cap_units(curve, used_by_stock_units=2.0, lead_time_days=3, shelf_life_days=10) == pytest.approx(20)
    assert expiry_cap_units(curve, 0.0, 3, math.inf) == math.inf


@settings(max_examples=60, deadline=None)
@given(
    means=st.lists(st.floats(0, 50), min_size=13, max_size=13),
    lots=st.lists(st.tuples(st.floats(0, 200), st.integers(1, 400)), max_size=4),
    lead=st.integers(0, 14), shelf=st.integers(1, 400), pack=st.sampled_from([1.0, 5.0, 30.0]),
    par_q=st.floats(0, 2000),
)
def test_the_expiry_cap_never_allows_an_order_the_forecast_cannot_use_before_expiry(means, lots, lead, shelf, pack, par_q):
    # ... except one pack for an empty shelf when at least half of it can be used in time (ordering.py).
    starts = [DAY_AFTER + timedelta(weeks=k) for k in range(13)]
    curve = UsageCurve(starts, "week", np.array(means), DAY_AFTER, float(np.mean(means)) / 7)
    key = ("S1", "D1")
    lot_frame = pd.DataFrame([("S1", "D1", f"L{i}", AS_OF + timedelta(days=d), u, ) for i, (u, d) in enumerate(lots)],
                             columns=["location_id", "drug_id", "lot", "expiry_date", "units"])
    series = pd.DataFrame([dict(location_id="S1", drug_id="D1", on_order_units=0.0, lead_time_days=lead,
                                shelf_life_days=shelf, unit_cost=1.0)])
    no_recalls = pd.DataFrame(columns=["location_id", "drug_id", "lot"])
    _, stock = project_stock(series, lot_frame, no_recalls, {key: curve}, AS_OF)
    row = stock.iloc[0]
    usable_by_expiry = curve.cumulative(lead + shelf) - max(row.used_by_stock_units, curve.cumulative(lead))
    frame = _series_row(pack_size_units=pack, on_hand_units=row.usable_on_hand_units, lead_time_days=lead,
                        shelf_life_days=shelf, usable_on_hand_units=row.usable_on_hand_units,
                        expiry_cap_units=row.expiry_cap_units)
    out = par_levels(frame, _protection(par_q / 3, par_q), PolicySettings()).iloc[0]
    if row.usable_on_hand_units <= 0 and out.order_packs == 1 and out.order_units > usable_by_expiry + 1e-6:
        assert usable_by_expiry >= EMPTY_SHELF_MIN_USE_PACKS * pack - 1e-6  # the empty shelf's one pack
        return
    assert out.order_units <= max(usable_by_expiry, 0) + 1e-6
    if out.order_units > 0:
        assert out.order_units + row.used_by_stock_units <= curve.cumulative(lead + shelf) + 1e-6


# --- recalls ---------------------------------------------------------------------------------------

def _recall(number="D-1", package=("45963067611",), product=(), lots=(), code_info=""):
    return dict(recall_number=number, classification="Class II", status="Ongoing", reason_for_recall="why",
                product_description="", code_info=code_info, package_ndcs=list(package), product_ndcs=list(product),
                lots=list(lots))


def test_recalls_match_by_package_or_product_ndc_and_by_lot_when_the_recall_names_lots():
    lots = pd.DataFrame([
        ("S1", "45963067611", "3502407A", date(2027, 7, 31), 60.0),   # named lot
        ("S1", "45963067611", "3502411C", date(2027, 9, 30), 40.0),   # other lot of the same NDC
        ("S2", "45963067696", None, None, 500.0),                      # lot-less stock of another pack size
        ("S1", "00093104801", "X1", date(2027, 1, 1), 9.0),             # another drug
    ], columns=["location_id", "drug_id", "lot", "expiry_date", "units"])
    recalls = pd.DataFrame([_recall(package=["45963067611"], product=["459630676"], lots=["3502407A"],
                                    code_info="Lot #: 3502407A, Exp 07/2027")])
    matched = match_recalls(lots, recalls)
    assert sorted(zip(matched["location_id"], matched["lot"].fillna("-"), strict=True)) == [("S1", "3502407A"), ("S2", "-")]
    assert matched.set_index("location_id").loc["S2", "matched_by"].startswith("product NDC; no lot on record")


def test_a_recall_that_names_no_lot_takes_every_lot_of_the_product():
    lots = pd.DataFrame([("S1", "45963067611", "A", None, 1.0), ("S1", "45963067611", "B", None, 2.0)],
                        columns=["location_id", "drug_id", "lot", "expiry_date", "units"])
    matched = match_recalls(lots, pd.DataFrame([_recall()]))
    assert sorted(matched["lot"]) == ["A", "B"] and matched["matched_by"].str.contains("every lot").all()


@settings(max_examples=60, deadline=None)
@given(lots=st.lists(st.tuples(st.sampled_from(["45963067611", "00093104801"]), st.sampled_from(["A", "B", "C", None]),
                               st.floats(0, 100), st.integers(-30, 300)), max_size=8, unique_by=lambda t: (t[0], t[1])),
       named=st.lists(st.sampled_from(["A", "B", "C"]), max_size=2))
def test_recalled_lots_never_count_as_available(lots, named):
    frame = pd.DataFrame([("S1", d, lot, AS_OF + timedelta(days=days), u) for d, lot, u, days in lots],
                         columns=["location_id", "drug_id", "lot", "expiry_date", "units"])
    quarantine = match_recalls(frame, pd.DataFrame([_recall(lots=named, code_info="Lots " + ", ".join(named))]))
    drugs = sorted(set(frame["drug_id"])) or ["45963067611"]
    series = pd.DataFrame([dict(location_id="S1", drug_id=d, on_order_units=0.0, lead_time_days=2, shelf_life_days=365,
                                unit_cost=1.0) for d in drugs])
    curves = {("S1", d): flat_curve(1.0) for d in drugs}
    lot_rows, stock = project_stock(series, frame, quarantine, curves, AS_OF)
    recalled = set(zip(quarantine["drug_id"], quarantine["lot"].fillna(""), strict=True))
    for row in stock.itertuples(index=False):
        mine = frame[frame["drug_id"] == row.drug_id]
        expected = sum(u for lot, u, e in zip(mine["lot"].fillna(""), mine["units"], mine["expiry_date"], strict=True)
                       if (row.drug_id, lot) not in recalled and e > AS_OF)
        assert row.usable_on_hand_units == pytest.approx(expected)
    assert not lot_rows[lot_rows["status"] == "usable"].apply(
        lambda r: (r["drug_id"], r["lot"] or "") in recalled, axis=1).any()


# --- shortages and tiers ---------------------------------------------------------------------------

def test_a_current_shortage_flags_the_drug_raises_lead_time_and_service_and_lists_alternatives():
    catalog = pd.DataFrame({"drug_id": ["00487990130", "00173068220", "99999999999"],
                            "generic_name": ["salbutamol", "salbutamol", "other"]})
    shortages = pd.DataFrame([
        dict(package_ndc="00487990130", product_ndcs=["004879901"], generic_name="Albuterol Sulfate Solution",
             status="Current", availability="", update_date=pd.Timestamp("2025-10-24")),
        dict(package_ndc="99999999999", product_ndcs=[], generic_name="Other", status="Resolved", availability="",
             update_date=pd.NaT),
    ])
    assert match_shortages(catalog, shortages, PolicySettings().shortage)["drug_id"].tolist() == ["00487990130"]
    series = pd.DataFrame([
        dict(location_id="S1", drug_id=d, drug_name=n, generic_name="salbutamol", atc_code="R03AC02", criticality="essential",
             unit_cost=1.0, annual_usage_units=100.0, lead_time_days=2, usable_on_hand_units=u)
        for d, n, u in [("00487990130", "solution", 0.0), ("00173068220", "HFA inhaler", 6.0)]])
    planned = plan_series(series, shortages, PolicySettings()).set_index("drug_id")
    assert planned.loc["00487990130", "in_shortage"] and not planned.loc["00173068220", "in_shortage"]
    assert planned.loc["00487990130", "lead_time_days"] == 2 + 7
    assert planned.loc["00487990130", "service_level"] == 0.99
    offered = alternatives(planned.reset_index(), {"00487990130"})
    assert offered[("S1", "00487990130")] == "HFA inhaler (00173068220, same generic): 6 on hand"


def test_abc_closes_classes_at_70_and_90_percent_of_spend():
    spend = pd.Series([500.0, 200.0, 150.0, 80.0, 50.0, 20.0, 0.0])
    assert abc_classes(spend, (0.7, 0.9)).tolist() == ["A", "A", "B", "B", "C", "C", "C"]


def test_service_level_comes_from_criticality_by_abc_unless_one_level_is_set():
    series = pd.DataFrame([
        dict(location_id="S1", drug_id="A", criticality="non-essential", unit_cost=10.0, annual_usage_units=100.0),
        dict(location_id="S1", drug_id="B", criticality="vital", unit_cost=1.0, annual_usage_units=10.0),
        dict(location_id="S1", drug_id="C", criticality="essential", unit_cost=1.0, annual_usage_units=300.0),
    ])
    out = assign_service_levels(series, PolicySettings()).set_index("drug_id")
    assert out["abc_class"].to_dict() == {"A": "A", "B": "C", "C": "B"}
    assert out["service_level"].to_dict() == {"A": 0.95, "B": 0.99, "C": 0.95}
    fixed = assign_service_levels(series, PolicySettings(service_level=0.9))
    assert (fixed["service_level"] == 0.9).all()


# --- par invariants --------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(paths=st.lists(st.lists(st.floats(0, 100), min_size=4, max_size=4), min_size=5, max_size=40),
       levels=st.lists(st.floats(0.51, 0.999), min_size=2, max_size=2), leads=st.lists(st.integers(0, 20), min_size=2, max_size=2))
def test_par_never_falls_when_service_level_or_lead_time_rises(paths, levels, leads):
    paths = np.array(paths)
    starts = [DAY_AFTER + timedelta(weeks=k) for k in range(4)]
    lo_level, hi_level = sorted(levels)
    lo_lead, hi_lead = sorted(leads)
    weights = {lead: window_weights(starts, "week", DAY_AFTER, lead + 7) for lead in (lo_lead, hi_lead)}

    def protection_quantile(weights, level):  # the run's computation for one series and one window
        return float(protection_quantiles(paths[None], weights[:, None], np.array([level]))[0, 0])

    base = protection_quantile(weights[lo_lead], lo_level)
    assert protection_quantile(weights[lo_lead], hi_level) >= base - 1e-9
    assert protection_quantile(weights[hi_lead], lo_level) >= base - 1e-9
    pars = [par_levels(_series_row(), _protection(q / 2, q), PolicySettings()).iloc[0].par_level_units
            for q in (base, protection_quantile(weights[hi_lead], hi_level))]
    assert pars[1] >= pars[0]


def test_a_vital_drug_keeps_a_pack_and_the_vital_floor_overrides_the_expiry_cap():
    frame = _series_row(criticality="vital", pack_size_units=2.0, usable_on_hand_units=0.0, on_hand_units=0.0,
                        expiry_cap_units=0.0, shelf_life_days=30)
    out = par_levels(frame, _protection(0.1, 0.3), PolicySettings()).iloc[0]
    assert out.par_level_units == 2 and out.order_packs == 1
    assert out.binding_constraint == "vital minimum"
    assert "Vital drug: at least 2 units (1 pack) kept on the shelf, even if some expires before use" in out.reason


def test_a_dead_item_gets_no_reorder():
    frame = _series_row(lifecycle="dead", usable_on_hand_units=0.0, on_hand_units=0.0)
    out = par_levels(frame, _protection(5.0, 9.0), PolicySettings()).iloc[0]
    assert out.par_level_units == 0 and out.order_packs == 0 and out.binding_constraint == "dead item"


def _series_row(**overrides) -> pd.DataFrame:
    row = dict(location_id="S1", drug_id="D1", drug_name="Drug", history_periods=156, lead_time_days=2,
               lead_time_defaulted=False, pack_size_units=1.0, pack_size_defaulted=False, criticality="essential",
               min_par_units=0.0, on_hand_units=0.0, on_order_units=0.0, on_hand_known=True, service_level=0.95)
    row.update(overrides)
    return pd.DataFrame([row])


def _protection(lead_q: float, prot_q: float) -> pd.DataFrame:
    return pd.DataFrame([dict(location_id="S1", drug_id="D1", model="dynamic_harmonic", basis="test", lead_time_demand_mean=0.0,
                              lead_time_demand_units=lead_q, protection_demand_mean=0.0, protection_demand_units=prot_q,
                              forecast_next_4_units=10.0, actual_last_4_units=10.0)])
