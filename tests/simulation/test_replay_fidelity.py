"""Each replay review plans with what was known on its as-of (issue 14, item 6): the annual usage of the usage
window before it, hence the ABC tier, the service level and the expiry cap's flat tail. Demand after a review
changes nothing it planned; demand before it does."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_settings
from turnover.inventory.expiry import expiry_cap_units
from turnover.inventory.tiers import assign_service_levels
from turnover.io import demand as demand_io
from turnover.io.warehouse import open_warehouse
from turnover.panel import DemandPanel
from turnover.simulation import replay

DAY0 = date(2024, 4, 1)  # a Monday: two and a half years of daily history before the replay
START, END = date(2026, 10, 5), date(2026, 10, 25)  # reviews on the Mondays 10-05, 10-12 and 10-19
SECOND_REVIEW = date(2026, 10, 12)
DRUGS = ["D1", "D2", "D3", "D4"]
UNITS_PER_DAY = [30.0, 8.0, 3.0, 1.0]  # at a unit cost of 1, D1 is class A, D2 B, D3 and D4 C
SURGE_UNITS_PER_DAY = 600.0  # D4 from the second review on: class A by the end of the replay
LEAD_TIME_DAYS, SHELF_LIFE_DAYS = 2, 180


def _daily(surge_from: date | None = None) -> np.ndarray:
    """Seeded Poisson demand per day of ``DRUGS`` from ``DAY0`` through ``END``; D4 surges from ``surge_from`` on."""
    rng = np.random.default_rng(14)
    n_days = (END - DAY0).days + 1
    daily = rng.poisson(np.array(UNITS_PER_DAY)[:, None], (len(DRUGS), n_days)).astype(float)
    if surge_from is not None:
        surged = rng.poisson(SURGE_UNITS_PER_DAY, n_days).astype(float)
        daily[3, (surge_from - DAY0).days:] = surged[(surge_from - DAY0).days:]
    return daily


def _weekly_panel(daily: np.ndarray) -> DemandPanel:
    """The weekly series (Monday weeks) of ``daily`` through the last complete week before ``END``."""
    weeks = ((END - DAY0).days + 1) // 7
    units = daily[:, : weeks * 7].reshape(len(DRUGS), weeks, 7).sum(axis=2)
    keys = pd.DataFrame({"location_id": "L1", "drug_id": DRUGS})
    return DemandPanel(keys, np.arange(len(DRUGS) + 1) * weeks, units.ravel())


def _series_at_end(daily: np.ndarray, policy) -> pd.DataFrame:
    """The catalog and the tier as the pipeline plans them at the end of the replay (``plan_series`` on ``END``:
    annual usage = the last 365 days)."""
    catalog = pd.DataFrame({
        "location_id": "L1", "drug_id": DRUGS, "generic_name": [f"generic {d}" for d in DRUGS],
        "first_dispensed_on": pd.Timestamp(DAY0), "lead_time_days": LEAD_TIME_DAYS, "pack_size_units": 1.0,
        "shelf_life_days": SHELF_LIFE_DAYS, "unit_cost": 1.0, "criticality": "essential", "min_par_units": 0.0,
        "annual_usage_units": daily[:, -365:].sum(axis=1),
    })
    return assign_service_levels(catalog, policy)


def _replayed_plans(monkeypatch, tmp_path, daily: np.ndarray) -> list[replay.WeekPlan]:
    """The week plans of production's ``run_replay`` on ``daily``."""
    settings = make_settings(tmp_path)
    plans, plan_weeks = [], replay.plan_weeks

    def plan_weeks_seen(*args, **kwargs):
        plans.extend(plan_weeks(*args, **kwargs))
        return plans

    monkeypatch.setattr(replay, "plan_weeks", plan_weeks_seen)
    forecast = settings.forecast.model_copy(update={"period": "week"})
    replay.run_replay(_weekly_panel(daily), daily, DAY0, _series_at_end(daily, settings.policy), START, END,
                      forecast, settings.policy)
    return plans


def _caps(plan: replay.WeekPlan) -> np.ndarray:
    """Each series' expiry cap on an order with nothing held: the forecast, then the flat tail."""
    return np.array([expiry_cap_units(curve, 0.0, LEAD_TIME_DAYS, SHELF_LIFE_DAYS) for curve in plan.curves])


@pytest.fixture(scope="module")
def plans_steady_and_surging(tmp_path_factory):
    """The replay's plans on steady demand, and on the same demand with D4 surging from the second review on."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        steady = _replayed_plans(monkeypatch, tmp_path_factory.mktemp("steady"), _daily())
    with pytest.MonkeyPatch.context() as monkeypatch:
        surging = _replayed_plans(monkeypatch, tmp_path_factory.mktemp("surging"), _daily(SECOND_REVIEW))
    return steady, surging


def test_demand_after_a_review_leaves_its_pars_caps_and_tiers_unchanged(plans_steady_and_surging):
    steady, surging = plans_steady_and_surging
    assert [p.day for p in steady] == [0, 7, 14]
    for before, after in zip(steady[:2], surging[:2], strict=True):  # the reviews of 10-05 and 10-12
        np.testing.assert_array_equal(after.par_units, before.par_units)
        np.testing.assert_array_equal(_caps(after), _caps(before))
        pd.testing.assert_frame_equal(after.tiers, before.tiers)


def test_demand_before_a_review_moves_its_pars_caps_and_tiers(plans_steady_and_surging):
    steady, surging = plans_steady_and_surging
    before, after = steady[2], surging[2]  # the review of 10-19 has seen a week of the surge
    assert after.par_units[3] > before.par_units[3]
    assert _caps(after)[3] > _caps(before)[3]
    assert after.tiers["annual_usage_units"].iat[3] > before.tiers["annual_usage_units"].iat[3]
    np.testing.assert_array_equal(after.par_units[:3], before.par_units[:3])  # the other drugs' forecasts


def test_an_early_review_reads_the_usage_and_tier_of_the_year_before_it_not_of_the_replays_end(
        plans_steady_and_surging, tmp_path):
    _, surging = plans_steady_and_surging
    policy = make_settings(tmp_path).policy
    daily = _daily(SECOND_REVIEW)
    at_end = _series_at_end(daily, policy)
    first_as_of = (START - DAY0).days - 1  # the first review's as-of, as a column of ``daily``
    usage_then = daily[3, first_as_of - 364: first_as_of + 1].sum()  # D4's 365 days through 10-04
    first = surging[0]
    assert at_end["abc_class"].iat[3] == "A"
    assert first.curves[3].tail_units_per_day == pytest.approx(usage_then / 365.0)
    assert first.curves[3].tail_units_per_day < at_end["annual_usage_units"].iat[3] / 365.0 / 10
    assert first.tiers["abc_class"].tolist() == ["A", "B", "C", "C"]
    assert first.tiers["service_level"].iat[3] == policy.service_levels["essential"]["C"]
    assert surging[2].tiers["abc_class"].iat[3] != "C"  # a week of the surge before the third review


# --- the usage window reads the day array as staging.series reads the dispensing ----------------------------------

AS_OF = date(2026, 3, 1)
DISPENSING = [  # (day, drug, quantity): returns net within the window, a day of more returns than dispensing
    (date(2025, 1, 10), "LONG", 40.0), (date(2025, 3, 1), "LONG", 5.0), (date(2025, 3, 2), "LONG", 7.0),
    (date(2026, 2, 1), "LONG", 10.0), (date(2026, 2, 1), "LONG", -16.0), (date(2026, 2, 3), "LONG", 9.0),
    (date(2026, 1, 20), "NEW", 12.0), (date(2026, 2, 27), "NEW", -2.0),  # annualised over 41 days
    (date(2026, 2, 20), "NEWER", 6.0),  # dispensed for 10 days: annualised over the 28-day floor
    (date(2026, 2, 10), "RETURNED", 3.0), (date(2026, 2, 11), "RETURNED", -5.0),  # net negative: no usage
    (date(2026, 3, 2), "LATER", 8.0),  # first dispensed after the as-of
]


def test_the_usage_window_on_the_day_array_is_the_annual_usage_staging_series_computes(tmp_path):
    settings = make_settings(tmp_path)
    with open_warehouse(settings.warehouse_path) as con:
        con.executemany("insert into raw.dispensing (file_id, line, dispensed_at, location_id, drug_id, quantity) "
                        "values (1, ?, ?, 'L1', ?, ?)",
                        [[k, datetime.combine(day, datetime.min.time()), drug, quantity]
                         for k, (day, drug, quantity) in enumerate(DISPENSING)])
        demand_io.build_demand_series(con, date(2026, 3, 8), "week", settings.policy)  # LATER is a series too
        series = demand_io.read_series(con)
        day0 = date(2024, 12, 1)
        daily = demand_io.read_daily_demand(con, series, day0, date(2026, 3, 8), net=True)
        demand_io.build_demand_series(con, AS_OF, "week", settings.policy)
        sql = demand_io.read_series(con).set_index("drug_id")["annual_usage_units"]
    usage = replay.DailyUsage(daily, day0).annual_usage_units(AS_OF, series["first_dispensed_on"],
                                                              settings.policy.usage_window_days)
    by_drug = pd.Series(usage, index=series["drug_id"])
    assert by_drug["LATER"] == 0.0 and "LATER" not in sql.index
    pd.testing.assert_series_equal(by_drug.drop("LATER").sort_index(), sql.sort_index(), check_names=False)
    # hand-worked: LONG nets 7 + 10 - 16 + 9 = 10 in the window; NEW 10 over 41 days; NEWER 6 over 28 days
    assert by_drug["LONG"] == pytest.approx(10.0)
    assert by_drug["NEW"] == pytest.approx(10 * 365 / 41)
    assert by_drug["NEWER"] == pytest.approx(6 * 365 / 28)
    assert by_drug["RETURNED"] == 0.0
