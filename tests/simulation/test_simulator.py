"""The daily inventory replay against hand-worked days, and its invariants."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnover.inventory.ordering import EMPTY_SHELF_MIN_USE_PACKS, EPSILON
from turnover.simulation.simulator import (
    ItemParams,
    Lot,
    ReviewState,
    days_of_supply,
    minmax_flat_average,
    order_up_to_rule,
    simulate,
)


def _up_to(par_units):
    return order_up_to_rule(lambda state: (par_units, None))


def _never(state):
    return 0.0


def _recording(units_by_day, seen):
    """A rule that orders ``units_by_day.get(day, 0)`` and keeps the states it saw."""

    def rule(state):
        seen.append(state)
        return units_by_day.get(state.day, 0.0)

    return rule


def test_constant_demand_with_a_generous_par_serves_everything_and_holds_the_expected_stock():
    # L = 0, par 20, 2 a day: each review refills to 20, ends of day run 18, 16, ..., 6 -> mean 12.
    result = simulate(np.full(14, 2.0), ItemParams(lead_time_days=0), _up_to(20))
    daily = result.daily
    assert daily["on_hand_end_units"].tolist() == [18, 16, 14, 12, 10, 8, 6] * 2
    assert daily["ordered_units"].tolist() == [20, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0]
    summary = result.summary(ItemParams(lead_time_days=0))
    assert summary["fill_rate"] == 1.0
    assert summary["avg_on_hand_units"] == 12.0
    assert summary["cycle_service_level"] == 1.0 and summary["stockout_weeks"] == 0
    assert summary["orders"] == 2 and summary["ordered_units"] == 34


def test_no_stock_and_no_orders_serves_nothing_and_every_cycle_is_a_stockout():
    params = ItemParams(lead_time_days=2)
    summary = simulate(np.full(21, 1.0), params, _never).summary(params)
    assert summary["fill_rate"] == 0.0
    assert summary["stockout_weeks"] == summary["cycles"] == 3
    assert summary["cycle_service_level"] == 0.0
    assert math.isnan(summary["turns"]) and math.isnan(summary["days_on_hand"])
    assert summary["orders"] == 0


def test_an_order_arrives_exactly_lead_time_days_after_it_is_placed():
    seen = []
    params = ItemParams(lead_time_days=3, review_period_days=1)
    daily = simulate(np.ones(5), params, _recording({0: 10}, seen)).daily
    assert daily["served_units"].tolist() == [0, 0, 0, 1, 1]
    assert daily["received_units"].tolist() == [0, 0, 0, 10, 0]
    # Days 1-2 still wait for it; the review on day 3 already sees it on hand (received before the review).
    assert [(s.day, s.on_order_units, s.on_hand_units) for s in seen] == [(0, 0, 0), (1, 10, 0), (2, 10, 0), (3, 0, 10),
                                                                        (4, 0, 9)]


def test_orders_are_rounded_up_to_whole_packs_and_non_positive_orders_place_nothing():
    params = ItemParams(lead_time_days=1, review_period_days=1, pack_size_units=6)
    wanted = {0: 7, 1: 6.000000001, 2: 0.0, 3: -4.0, 4: 0.5}
    daily = simulate(np.zeros(5), params, _recording(wanted, [])).daily
    assert daily["ordered_units"].tolist() == [12, 6, 0, 0, 6]
    assert simulate(np.zeros(5), params, _recording(wanted, [])).summary(params)["orders"] == 3


def test_fefo_serves_the_earliest_expiring_lot_first_and_never_expiring_stock_last():
    lots = [Lot(5, None), Lot(5, 10), Lot(5, 3)]  # given out of FEFO order on purpose
    seen = []
    daily = simulate(np.array([6.0] + [0.0] * 11), ItemParams(lead_time_days=0), _recording({}, seen), lots).daily
    # 5 from the day-3 lot, 1 from the day-10 lot: nothing is left to expire on day 3; 4 expire on day 10.
    assert daily["expired_units"].tolist() == [0] * 10 + [4, 0]
    assert daily["on_hand_end_units"].tolist() == [9] * 10 + [5, 5]
    assert seen[0].on_hand_lots == (Lot(5, 3), Lot(5, 10), Lot(5, None))


def test_a_lot_is_unusable_on_its_expiry_day_and_is_counted_as_expired():
    seen = []
    params = ItemParams(lead_time_days=0, review_period_days=2)
    daily = simulate(np.ones(4), params, _recording({}, seen), [Lot(4, 2)]).daily
    assert daily["served_units"].tolist() == [1, 1, 0, 0]
    assert daily["expired_units"].tolist() == [0, 0, 2, 0]
    assert daily["lost_units"].tolist() == [0, 0, 1, 1]
    # The review on the expiry day sees the lot gone.
    assert seen[1].day == 2 and seen[1].on_hand_units == 0 and seen[1].on_hand_lots == ()


def test_received_lots_expire_shelf_life_days_after_arrival():
    seen = []
    params = ItemParams(lead_time_days=1, review_period_days=3, shelf_life_days=5)
    daily = simulate(np.zeros(8), params, _recording({0: 10}, seen)).daily
    assert daily["received_units"].tolist() == [0, 10, 0, 0, 0, 0, 0, 0]
    assert daily["on_hand_end_units"].tolist() == [0, 10, 10, 10, 10, 10, 0, 0]
    assert daily["expired_units"].tolist() == [0, 0, 0, 0, 0, 0, 10, 0]
    assert seen[1].on_hand_lots == (Lot(10, 6),)


def test_with_no_lead_time_an_order_is_received_before_the_days_demand():
    daily = simulate(np.array([3.0]), ItemParams(lead_time_days=0, shelf_life_days=1), _up_to(3)).daily
    assert daily["served_units"].tolist() == [3]
    assert daily["received_units"].tolist() == [3]


def test_negative_demand_is_treated_as_no_demand():
    daily = simulate(np.array([-3.0, 2.0]), ItemParams(lead_time_days=0), _never, [Lot(5, None)]).daily
    assert daily["demand_units"].tolist() == [0, 2]
    assert daily["served_units"].tolist() == [0, 2]
    assert daily["on_hand_end_units"].tolist() == [5, 3]
    assert daily["lost_units"].tolist() == [0, 0]


def test_reviews_start_on_the_first_review_day_and_recur_every_review_period():
    seen = []
    simulate(np.zeros(20), ItemParams(lead_time_days=1), _recording({}, seen), first_review_day=3)
    assert [s.day for s in seen] == [3, 10, 17]


def test_summary_figures_for_a_hand_worked_run():
    # 20 units, 2 a day for 22 days, no orders: ends of day 18, 16, ..., 2, 0 (days 0-9), then 0.
    # Cycles: days 0-6 no loss, 7-13 and 14-20 lose; day 21 is a part-cycle and does not count.
    params = ItemParams(lead_time_days=2, unit_cost=3.0)
    summary = simulate(np.full(22, 2.0), params, _never, [Lot(20, None)]).summary(params)
    on_hand_sum = 18 + 16 + 14 + 12 + 10 + 8 + 6 + 4 + 2  # = 90
    assert summary["demand_units"] == 44 and summary["served_units"] == 20
    assert summary["fill_rate"] == pytest.approx(20 / 44)
    assert summary["cycles"] == 3 and summary["stockout_weeks"] == 2
    assert summary["cycle_service_level"] == pytest.approx(1 / 3)
    assert summary["avg_on_hand_units"] == pytest.approx(on_hand_sum / 22)
    assert summary["avg_on_hand_value"] == pytest.approx(3 * on_hand_sum / 22)
    # turns = 20 * 365 / 22 / (90 / 22) = 7300 / 90; days on hand = 90 / 20 = avg on hand / daily usage.
    assert summary["turns"] == pytest.approx(7300 / 90)
    assert summary["days_on_hand"] == pytest.approx(4.5)
    assert summary["expired_units"] == 0 and summary["expired_value"] == 0


def test_stock_that_never_moves_has_infinite_days_on_hand_and_unknown_cost_gives_no_value():
    params = ItemParams(lead_time_days=0, shelf_life_days=None)
    summary = simulate(np.zeros(7), params, _never, [Lot(4, 3)]).summary(params)
    assert summary["turns"] == 0 and summary["days_on_hand"] == math.inf
    assert math.isnan(summary["fill_rate"])
    assert summary["expired_units"] == 4 and math.isnan(summary["expired_value"])
    assert math.isnan(summary["avg_on_hand_value"])


def test_minmax_orders_up_to_max_from_the_flat_average_when_the_position_reaches_min():
    # mu = 2, sigma = 2 (0 and 4 alternating, population s.d.); L + R = 10.
    history = np.tile([0.0, 4.0], 200)
    params = ItemParams(lead_time_days=3, review_period_days=7)
    rule = minmax_flat_average(history, params, service_z=1.645, lookback_days=364, history_offset=364)
    minimum = 2 * 10 + 1.645 * 2 * math.sqrt(10)
    maximum = minimum + 2 * 7
    assert rule(ReviewState(0, (), 5.0, 20.0)) == pytest.approx(maximum - 25)
    assert rule(ReviewState(0, (), 0.0, minimum + 0.01)) == 0.0


def test_days_of_supply_orders_up_to_the_average_times_the_days_of_cover():
    history = np.concatenate([np.full(10, 100.0), np.full(365, 2.0)])  # the 100s fall outside the lookback
    rule = days_of_supply(history, ItemParams(lead_time_days=3), days=30, history_offset=375)
    assert rule(ReviewState(0, (), 10.0, 5.0)) == pytest.approx(60 - 15)
    assert rule(ReviewState(0, (), 0.0, 70.0)) == 0.0


@pytest.mark.parametrize("factory", [minmax_flat_average, days_of_supply])
def test_baselines_never_use_demand_from_the_review_day_on(factory):
    rng = np.random.default_rng(7)
    known = rng.poisson(3.0, size=400).astype(float)
    params = ItemParams(lead_time_days=3)
    for day in (0, 7, 14):
        cut = 365 + day
        future_huge = np.concatenate([known[:cut], np.full(len(known) - cut, 1e6)])
        state = ReviewState(day, (), 0.0, 0.0)
        honest = factory(known, params, history_offset=365)(state)
        assert honest > 0
        assert factory(future_huge, params, history_offset=365)(state) == honest


def test_the_cap_rule_rounds_a_binding_cap_down_to_whole_packs_but_an_empty_shelf_gets_one_usable_pack():
    params = ItemParams(lead_time_days=0, review_period_days=1, pack_size_units=5)
    targets = {0: (100.0, 9.0), 1: (7.0, 9.0), 2: (3.0, 9.0), 3: (7.0, None), 4: (50.0, 4.0), 5: (50.0, 2.0)}
    rule = order_up_to_rule(lambda state: targets[state.day])
    # 1000 a day empties the shelf, so the position is 0 at every review. Day 4: the cap (4 units) is under
    # a pack of 5, but 80% of one pack would be used before it expires: the empty shelf gets one. Day 5: 40%.
    daily = simulate(np.full(6, 1000.0), params, rule).daily
    assert daily["ordered_units"].tolist() == [5, 5, 5, 10, 5, 0]


@settings(max_examples=200, deadline=None)
@given(
    par=st.floats(0, 200),
    cap=st.floats(-5, 200),
    pack=st.sampled_from([1.0, 2.5, 6.0, 30.0]),
    on_hand=st.floats(0, 100),
)
def test_the_cap_rule_never_orders_more_than_the_cap_after_pack_rounding_but_for_one_pack_to_an_empty_shelf(
        par, cap, pack, on_hand):
    params = ItemParams(lead_time_days=0, review_period_days=1, pack_size_units=pack)
    rule = order_up_to_rule(lambda state: (par, cap))
    ordered = simulate(np.zeros(1), params, rule, [Lot(on_hand, None)]).daily["ordered_units"].iloc[0]
    # the empty-shelf rule (turnover.inventory.ordering): one pack when at least half of it can be used in time
    empty_shelf = on_hand <= EPSILON and par > EPSILON and cap >= EMPTY_SHELF_MIN_USE_PACKS * pack
    assert ordered <= max(cap, 0.0) + 1e-9 or (empty_shelf and ordered == pack)


@settings(max_examples=100, deadline=None)
@given(
    demand=st.lists(st.integers(-2, 12), min_size=1, max_size=60),
    lead=st.integers(0, 9),
    shelf=st.one_of(st.none(), st.integers(1, 30)),
    par=st.integers(0, 60),
    initial=st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.integers(0, 40))), max_size=3),
)
def test_units_are_conserved_and_demand_is_either_served_or_lost(demand, lead, shelf, par, initial):
    params = ItemParams(lead_time_days=lead, pack_size_units=4, shelf_life_days=shelf)
    lots = [Lot(units, expiry) for units, expiry in initial]
    daily = simulate(np.array(demand, dtype=float), params, _up_to(par), lots).daily
    np.testing.assert_allclose(daily["served_units"] + daily["lost_units"], daily["demand_units"])
    stock_in = sum(units for units, _ in initial) + daily["received_units"].sum()
    stock_out = daily["served_units"].sum() + daily["expired_units"].sum() + daily["on_hand_end_units"].iloc[-1]
    assert stock_in == pytest.approx(stock_out)
    assert (daily[["served_units", "lost_units", "on_hand_end_units"]] >= 0).all().all()
