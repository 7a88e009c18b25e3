"""Par-level arithmetic against hand-worked examples, and its invariants."""

import inspect
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from turnover.forecasting.models import BORROWED_PROFILE, COMBINATION, GLOBAL_GBM, REGISTRY, SIGNAL_REGRESSION
from turnover.inventory import reasons
from turnover.inventory.policy import ceil_units, inventory_position, order_up_to, par_levels, round_up_to_packs
from turnover.inventory.reasons import BINDINGS, REASON_FIELDS, since_words
from turnover.settings import PolicySettings


def test_packs_round_up_and_never_go_negative():
    np.testing.assert_array_equal(round_up_to_packs([0, 1, 30, 31, -5, 59.5], [30, 30, 30, 30, 30, 30]), [0, 1, 1, 2, 0, 2])


def test_float_noise_does_not_add_a_pack_or_a_unit():
    assert round_up_to_packs([0.1 + 0.2 + 29.7], [30])[0] == 1
    assert ceil_units([30.000000000001])[0] == 30


def test_order_brings_the_position_up_to_par_and_is_never_negative():
    position = inventory_position([20, 100], [10, 0])
    np.testing.assert_array_equal(order_up_to([95, 95], position), [65, 0])


def _series(**overrides):
    row = dict(location_id="S1", drug_id="D1", drug_name="Drug", history_periods=156, lead_time_days=2,
               lead_time_defaulted=False, pack_size_units=30.0, pack_size_defaulted=False, criticality="essential",
               min_par_units=0.0, on_hand_units=20.0, on_order_units=10.0, on_hand_known=True)
    row.update(overrides)
    return pd.DataFrame([row])


def _protection(lead_q, prot_q, next4=400.0, last4=100.0, model="dynamic_harmonic", basis="test basis"):
    return pd.DataFrame([dict(location_id="S1", drug_id="D1", model=model, basis=basis, lead_time_demand_mean=0.0,
                              lead_time_demand_units=lead_q, protection_demand_mean=0.0, protection_demand_units=prot_q,
                              forecast_next_4_units=next4, actual_last_4_units=last4)])


def test_hand_worked_par_level_row():
    # Quantiles 24.2 (lead) and 94.1 (lead + review) -> reorder point 25, par 95. Position 20 + 10 = 30,
    # so 65 units are needed: 3 packs of 30 = 90 units.
    out = par_levels(_series(), _protection(24.2, 94.1), PolicySettings()).iloc[0]
    assert (out.reorder_point_units, out.par_level_units) == (25, 95)
    assert (out.order_packs, out.order_units) == (3, 90)
    assert out.binding_constraint == "demand forecast"  # no seasonality measured: not a seasonal rise
    assert out.reason == "Use trending up (400 units expected in the next 4 weeks vs 100 in the last 4)."
    assert out.forecast_basis == "test basis; par = 95% quantile of demand over 9 d (2 d lead + 7 d review)"


def test_a_position_above_par_orders_nothing_and_says_so():
    out = par_levels(_series(on_hand_units=500.0), _protection(24.2, 94.1, 100.0, 100.0), PolicySettings()).iloc[0]
    assert out.order_packs == 0 and out.order_units == 0
    assert out.binding_constraint == "demand forecast"
    assert out.reason == "Steady use (100 units expected in the next 4 weeks vs 100 in the last 4)."


def test_no_history_falls_back_to_the_catalog_minimum():
    out = par_levels(_series(history_periods=0, min_par_units=10.0, on_hand_units=0.0, on_order_units=0.0),
                     _protection(0.0, 0.0, 0.0, float("nan"), "no_history"), PolicySettings()).iloc[0]
    assert out.par_level_units == 10 and out.order_packs == 1
    assert out.binding_constraint == "catalog minimum"
    assert out.reason == "No dispensing history yet. Catalog minimum of 10 units."


def test_normal_demand_matches_the_textbook_order_up_to_level():
    # Textbook S = mu (L + R) + z sigma sqrt(L + R) for daily N(mu, sigma^2): mu = 10, sigma = 3,
    # L + R = 9 days, alpha = 0.95 (z = 1.6449): S = 90 + 1.6449 * 3 * 3 = 104.80 -> 105 units.
    # Reorder point over L = 2 days: 20 + 1.6449 * 3 * sqrt(2) = 26.98 -> 27 units.
    daily = np.random.default_rng(0).normal(10, 3, size=(400_000, 9))
    lead_q, prot_q = np.quantile(daily[:, :2].sum(axis=1), 0.95), np.quantile(daily.sum(axis=1), 0.95)
    assert lead_q == pytest.approx(26.98, abs=0.1)
    assert prot_q == pytest.approx(104.80, abs=0.1)
    out = par_levels(_series(), _protection(lead_q, prot_q), PolicySettings()).iloc[0]
    assert (out.reorder_point_units, out.par_level_units) == (27, 105)


@given(
    quantiles=st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=2, max_size=2),
    on_hand=st.floats(min_value=0, max_value=1e5), pack=st.floats(min_value=0.5, max_value=1000),
)
def test_order_covers_the_gap_to_par_with_less_than_one_extra_pack(quantiles, on_hand, pack):
    lead, prot = sorted(quantiles)
    out = par_levels(_series(on_hand_units=on_hand, on_order_units=0.0, pack_size_units=pack),
                     _protection(lead, prot), PolicySettings()).iloc[0]
    gap = max(out.par_level_units - on_hand, 0)
    assert out.order_units >= gap - 1e-6
    assert out.order_units < gap + pack + 1e-6
    assert out.par_level_units >= out.reorder_point_units


def test_poisson_demand_matches_the_textbook_base_stock_level():
    # Base-stock level for discrete demand: the smallest S with F(S) >= alpha, F the cdf of demand over
    # the protection period (Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., the
    # periodic-review base-stock chapter; Silver, Pyke & Thomas sec. 6.7 for Poisson demand).
    # Poisson demand of 1.5 a day over L + R = 2 + 7 days: mean 13.5, S = F^-1(0.95) = 20 (F(19) = 0.9421,
    # F(20) = 0.9649); over L = 2 days: mean 3, reorder point F^-1(0.95) = 6 (F(5) = 0.9161, F(6) = 0.9665).
    from scipy.stats import poisson

    assert (poisson.ppf(0.95, 13.5), poisson.ppf(0.95, 3.0)) == (20, 6)
    daily = np.random.default_rng(1).poisson(1.5, size=(400_000, 9)).astype(float)
    lead_q, prot_q = np.quantile(daily[:, :2].sum(axis=1), 0.95), np.quantile(daily.sum(axis=1), 0.95)
    out = par_levels(_series(on_hand_units=7.0, on_order_units=0.0, pack_size_units=1.0),
                     _protection(lead_q, prot_q), PolicySettings()).iloc[0]
    assert (out.reorder_point_units, out.par_level_units) == (6, 20)
    assert out.order_units == 20 - 7  # order up to S from the position (Snyder & Shen's base-stock policy)


def test_continuous_review_reorder_point_matches_r_equals_mu_l_plus_z_sigma_l():
    # (r, Q) reorder point with normal lead-time demand: r = mu_L + z_alpha sigma_L (Snyder & Shen, the
    # continuous-review chapter). Daily N(20, 5^2), L = 4 days: mu_L = 80, sigma_L = 10, alpha = 0.95
    # (z = 1.6449) -> r = 96.45 -> 97 whole units.
    daily = np.random.default_rng(2).normal(20, 5, size=(400_000, 4))
    lead_q = np.quantile(daily.sum(axis=1), 0.95)
    assert lead_q == pytest.approx(96.45, abs=0.1)
    out = par_levels(_series(lead_time_days=4), _protection(lead_q, lead_q + 140), PolicySettings()).iloc[0]
    assert out.reorder_point_units == 97


def test_the_reason_reads_only_the_fields_par_levels_gives_it():
    # par_levels hands explain rows of REASON_FIELDS only: a field read but not listed would fail only for the
    # rows that reach its branch. Every `row.<field>` (or getattr) of explain and of the functions it hands the
    # row to is listed, and every listed field is read.
    seen, todo, read = set(), ["explain"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = inspect.getsource(getattr(reasons, name))
        read |= set(re.findall(r"\brow\.(\w+)", source)) | set(re.findall(r'getattr\(row, "(\w+)"', source))
        todo += [f for f in re.findall(r"\b(\w+)\(row\b(?!\.)", source) if f != "getattr" and hasattr(reasons, f)]
    assert {"explain", "_demand", "_binding", "_since", "_notes", "_forecast_basis"} <= seen
    assert read <= set(REASON_FIELDS), sorted(read - set(REASON_FIELDS))
    assert read == set(REASON_FIELDS) and len(set(REASON_FIELDS)) == len(REASON_FIELDS)


# --- the words purchasing reads --------------------------------------------------------------------------------

MODEL_KEYS = {*REGISTRY, COMBINATION, BORROWED_PROFILE, GLOBAL_GBM, SIGNAL_REGRESSION}
JARGON = re.compile(r"MASE|pinball|fold|quantile|backtest|\bpaths?\b|\d+\.\d+%|"
                    + "|".join(rf"\b{re.escape(k)}\b" for k in sorted(MODEL_KEYS)), re.IGNORECASE)
BASIS = "dynamic_harmonic chosen by backtest (MASE 0.53 vs signal_regression 0.57, 6 folds) on 183 weeks"


def _words(strength, next4=400.0, last4=100.0, model="dynamic_harmonic", annual=None, **series):
    frame = _series(seasonality_strength=strength, **series)
    if annual is not None:
        frame["annual_usage_units"] = annual
    protection = _protection(24.2, 94.1, next4, last4, model, BASIS).assign(calibrated_level=0.995)
    return par_levels(frame, protection, PolicySettings(), "weeks", 0.3).iloc[0]


@pytest.mark.parametrize("strength", [0.0, 0.29, float("nan")])
@pytest.mark.parametrize("model", ["dynamic_harmonic", "seasonal_naive", SIGNAL_REGRESSION, GLOBAL_GBM])
def test_a_series_that_is_not_seasonal_is_never_said_to_rise_or_fall_with_the_season(strength, model):
    for next4, last4 in ((400.0, 100.0), (100.0, 400.0)):
        out = _words(strength, next4, last4, model)
        assert "season" not in out.reason.lower(), out.reason
        assert out.binding_constraint not in ("seasonal rise", "seasonal fall")


def test_a_seasonal_series_rises_with_its_season_and_a_flu_driven_one_with_the_flu_season():
    out = _words(0.45)
    assert out.binding_constraint == "seasonal rise"
    assert out.reason == "Seasonal rise (400 units expected in the next 4 weeks vs 100 in the last 4)."
    out = _words(0.45, 100.0, 400.0, SIGNAL_REGRESSION)
    assert out.binding_constraint == "seasonal fall" and out.reason.startswith("Flu season easing (100 units")
    # A new item with too little history to measure its season borrows the season of its siblings.
    assert _words(float("nan"), model=BORROWED_PROFILE).binding_constraint == "seasonal rise"


def test_a_non_seasonal_rise_is_told_apart_from_a_return_to_usual_use():
    # Usual use 2,600 a year = 200 in 4 weeks. 210 expected after 100: back to usual. 400 after 100: a trend.
    assert _words(0.0, 210.0, 100.0, annual=2600.0).reason.startswith("Use picking up after a quiet 4 weeks")
    assert _words(0.0, 400.0, 100.0, annual=2600.0).reason.startswith("Use trending up")
    assert _words(0.0, 190.0, 400.0, annual=2600.0).reason.startswith("Use easing after a busy 4 weeks")
    assert _words(0.0, 100.0, 400.0, annual=2600.0).reason.startswith("Use trending down")


def test_the_reason_has_no_model_jargon_and_the_forecast_basis_keeps_it():
    out = _words(0.45, 4400.0, 1000.0)
    assert not JARGON.search(out.reason), out.reason
    assert "4,400 units expected" in out.reason and "1,000 in the last 4" in out.reason  # whole units, separators
    assert out.forecast_basis.startswith(BASIS) and "MASE" in out.forecast_basis and "6 folds" in out.forecast_basis
    assert "read at the paths' 99.5% level" in out.forecast_basis


def test_the_reason_says_how_the_par_moved_since_the_previous_run():
    out = par_levels(_series(previous_par_units=60.0), _protection(24.2, 94.1), PolicySettings(),
                     since="since last week").iloc[0]
    assert out.reason.startswith("Par up from 60 to 95 since last week: use trending up (400 units expected")
    unchanged = par_levels(_series(previous_par_units=95.0), _protection(24.2, 94.1), PolicySettings(),
                           since="since the previous run on 2026-10-25").iloc[0]
    assert unchanged.reason.startswith("Par unchanged since the previous run on 2026-10-25; ")
    new = par_levels(_series(), _protection(24.2, 94.1), PolicySettings(), since="since last week").iloc[0]
    assert new.reason.startswith("First par for this item: ")


def test_the_previous_run_is_last_week_only_when_it_was_a_week_before():
    from datetime import date

    assert since_words(date(2026, 11, 22), date(2026, 11, 15), "week") == "since last week"
    assert since_words(date(2026, 11, 22), date(2026, 10, 25), "week") == "since the previous run on 2026-10-25"
    assert since_words(date(2026, 11, 30), date(2026, 10, 31), "month") == "since last month"
    assert since_words(date(2026, 11, 22), None, "week") == ""


def test_the_expiry_cap_is_empty_where_it_did_not_cut_the_order():
    uncapped = par_levels(_series(expiry_cap_units=1e6, shelf_life_days=400), _protection(24.2, 94.1),
                          PolicySettings()).iloc[0]
    assert np.isnan(uncapped.expiry_cap_units)
    capped = par_levels(_series(expiry_cap_units=40.5, shelf_life_days=21), _protection(24.2, 94.1),
                        PolicySettings()).iloc[0]
    assert capped.binding_constraint == "expiry cap" and capped.expiry_cap_units == 40  # whole units usable
    assert capped.order_units == 30 and "Order cut to 30 units: only 40 can be used before a new lot expires " \
        "(21-day shelf life), par needs 65." in capped.reason


def test_every_binding_constraint_is_one_of_the_documented_words():
    assert len(set(BINDINGS)) == len(BINDINGS) == 12
