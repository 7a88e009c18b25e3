"""A fill-rate target met at the least stock value: the allocation's arithmetic, and a run that uses it."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from tests.conftest import LATE_NOVEMBER, run_pipeline
from turnover import pipeline
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel
from turnover.forecasting.protection import ServiceCurves
from turnover.inventory.allocation import SERVICE_GRID, allocate, fill_rates, floor_index
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings

GRID = np.array(SERVICE_GRID)


def normal_curves(mu: np.ndarray, sigma: np.ndarray, cycle: np.ndarray):
    """Par and exact fill rate per level for normal demand over L + R (mean ``mu``, s.d. ``sigma``), the lead
    time's share negligible: ESC = sigma G(z), G the standard normal loss function."""
    z = norm.ppf(GRID)[None, :]
    par = mu[:, None] + z * sigma[:, None]
    loss = norm.pdf(z) - z * (1 - norm.cdf(z))
    return par, 1 - sigma[:, None] * loss / cycle[:, None]


def test_the_fill_rate_is_one_minus_the_expected_shortage_per_cycle_and_one_without_demand():
    fill = fill_rates(np.array([[5.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), np.array([50.0, 0.0]))
    np.testing.assert_allclose(fill, [[0.9, 0.98, 1.0], [1.0, 1.0, 1.0]])


def test_the_forecast_reads_the_expected_shortage_off_its_paths_as_the_normal_loss_function_gives_it():
    # Normal weekly demand, lead time 7 days, review 7 days: the curves read from the paths against the formula.
    rng = np.random.default_rng(3)
    weeks = 200
    history = np.maximum(0, rng.normal(100, 20, weeks)).round()
    panel = DemandPanel(pd.DataFrame({"location_id": ["A"], "drug_id": ["x"]}), np.array([0, weeks]), history)
    window = ProtectionWindow(np.array([7]), 7, 0.95, curve_levels=SERVICE_GRID)
    settings = ForecastSettings(candidates_smooth=["moving_average"], candidates_seasonal=["moving_average"],
                                n_paths=4000)
    as_of = pd.Timestamp("2026-11-29").date()
    result = forecast_panel(panel, window, as_of, settings)
    curves = ServiceCurves.of(result.protection, SERVICE_GRID)
    both = curves.protection_units[0]
    assert np.all(np.diff(both) >= 0)  # a higher level never a lower par
    fill = fill_rates(curves.shortage_units, curves.cycle_demand_units)[0]
    assert np.all(np.diff(fill) >= -1e-9) and 0.8 < fill[0] < fill[-1] <= 1.0
    # Against the normal loss function at the path distribution's own mean and s.d. over L + R.
    mu = result.protection["protection_demand_mean"].iloc[0]
    cycle = curves.cycle_demand_units[0]
    sigma = (both[GRID == 0.975][0] - both[GRID == 0.5][0]) / norm.ppf(0.975)
    _, exact = normal_curves(np.array([mu]), np.array([sigma]), np.array([cycle]))
    at = (GRID >= 0.7) & (GRID <= 0.99)
    np.testing.assert_allclose(fill[at], exact[0, at], atol=0.01)


def test_the_cheap_drug_gets_the_higher_level_and_the_target_costs_less_than_one_level_for_all():
    n = 4
    mu, sigma, cycle = np.full(n, 100.0), np.full(n, 30.0), np.full(n, 50.0)
    par, fill = normal_curves(mu, sigma, cycle)
    cost = np.array([1.0, 1.0, 20.0, 20.0])
    chosen = allocate(fill, par, cycle, cost, ["A"] * n, np.zeros(n, dtype=int), 0.98)
    weights = cycle / cycle.sum()
    assert chosen.group_reached["A"] and (weights * chosen.fill_rate).sum() >= 0.98
    assert GRID[chosen.index[0]] > GRID[chosen.index[2]]  # the cheap drugs carry the fill rate
    value = (cost * par[np.arange(n), chosen.index]).sum()
    uniform = next(g for g in range(len(GRID)) if (weights * fill[:, g]).sum() >= 0.98)
    assert value < (cost * par[:, uniform]).sum()


def test_the_allocation_is_as_cheap_as_any_choice_of_levels_that_meets_the_target():
    # Brute force over every combination of 3 drugs x 6 levels: nothing meeting the target costs less, within
    # the one step of the grid a Lagrangian solution can overshoot by.
    rng = np.random.default_rng(11)
    grid = np.arange(6)
    mu, sigma, cycle = rng.uniform(20, 200, 3), rng.uniform(5, 60, 3), rng.uniform(10, 100, 3)
    par, fill = normal_curves(mu, sigma, cycle)
    par, fill = par[:, 6:12], fill[:, 6:12]  # 0.90 .. 0.97
    cost = rng.uniform(1, 30, 3)
    weights = cycle / cycle.sum()
    target = float((weights * fill[:, 2]).sum())  # reachable: every drug at the third level meets it
    chosen = allocate(fill, par, cycle, cost, ["A"] * 3, np.zeros(3, dtype=int), target)
    value = (cost * par[np.arange(3), chosen.index]).sum()
    best = min((cost * par[np.arange(3), list(c)]).sum() for c in itertools.product(grid, repeat=3)
               if (weights * fill[np.arange(3), list(c)]).sum() >= target - 1e-12)
    steps = np.max(np.diff(cost[:, None] * par, axis=1))
    assert (weights * chosen.fill_rate).sum() >= target - 1e-12
    assert best <= value <= best + steps


def test_a_drug_never_goes_below_its_floor_and_an_unreachable_target_says_so():
    n = 3
    par, fill = normal_curves(np.full(n, 100.0), np.full(n, 30.0), np.full(n, 50.0))
    floors = floor_index(GRID, [0.99, 0.75, 0.75])
    chosen = allocate(fill, par, np.full(n, 50.0), [50.0, 1.0, 1.0], ["A"] * n, floors, 0.9)
    assert GRID[chosen.index[0]] >= 0.99 and chosen.group_reached["A"]
    assert GRID[chosen.index[1]] == 0.75  # the target is met at the floors: nothing is raised
    out_of_reach = allocate(fill[:, :3], par[:, :3], np.full(n, 50.0), np.ones(n), ["A"] * n, np.zeros(n, int), 0.999)
    assert not out_of_reach.group_reached["A"]


def test_each_location_meets_its_own_target():
    par, fill = normal_curves(np.array([100.0, 100.0, 10.0, 10.0]), np.array([30.0, 30.0, 8.0, 8.0]),
                              np.array([50.0, 50.0, 5.0, 5.0]))
    chosen = allocate(fill, par, [50.0, 50.0, 5.0, 5.0], [1.0, 5.0, 1.0, 5.0], ["A", "A", "B", "B"],
                      np.zeros(4, dtype=int), 0.985)
    for location in ("A", "B"):
        assert chosen.group_reached[location] and chosen.group_fill_rate[location] >= 0.985


@pytest.mark.slow
def test_a_run_with_a_fill_rate_target_chooses_each_level_and_says_why(demo_warehouse, tmp_path):
    shutil.copy(demo_warehouse["path"], tmp_path / "warehouse.duckdb")
    settings = demo_warehouse["settings"].model_copy(update={"warehouse_path": tmp_path / "warehouse.duckdb",
                                                             "output_dir": tmp_path / "out"})
    settings = settings.model_copy(update={"policy": settings.policy.model_copy(update={"fill_rate_target": 0.98})})
    files = run_pipeline(settings, LATE_NOVEMBER, "target-run")
    pars = pd.read_csv(next(p for p in files if p.name.startswith("par_levels_")))
    assert pars["expected_fill_rate"].notna().all()
    assert set(pars["service_level"]) <= set(SERVICE_GRID) and pars["service_level"].nunique() > 2
    floors = settings.policy.service_level_floors
    for criticality, floor in floors.items():  # never below its floor (vital 95% by default)
        assert (pars.loc[pars["criticality"] == criticality, "service_level"] >= floor - 1e-9).all(), criticality
    assert pars["forecast_basis"].str.contains("chosen so that STORE-0[123]'s drugs together fill 98.0%").all()
    summary = pipeline.run_summary(settings, "target-run")  # the run summary: the expected fill rate and its cost
    assert summary["fill_rate_target"] == 0.98 and 0.97 <= summary["expected_fill_rate"] <= 1.0
    assert summary["inventory_value_at_par"] > 0
    tiers = pd.read_csv(next(p for p in demo_warehouse["outputs"][LATE_NOVEMBER] if p.name.startswith("par_levels_")))
    assert tiers["expected_fill_rate"].isna().all()  # the tiers' run: no level chosen
