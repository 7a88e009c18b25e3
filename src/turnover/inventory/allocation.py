"""Service levels chosen to meet a fill-rate target at the least stock value (a location's drugs together).

A purchasing lead states one number: "fill 98% of what patients ask for". Giving every drug the same cycle
service level meets it at a needless cost: a cheap, fast drug and an expensive, slow one cost very different
amounts per point of fill rate. Choosing each item's level to meet an aggregate fill-rate target at minimum
holding cost saves up to 28.7% against one level for all (van Donselaar & Broekmeulen, "Setting service
levels for periodic-review inventory systems", Int. J. Production Economics 237, 2021; the marginal-analysis
/ Lagrangian allocation of Silver, Pyke & Thomas, *Inventory and Production Management in Supply Chains*,
4th ed., sec. 7.8, "multi-item service constraints").

Per drug ``i`` and candidate level ``g`` of a grid (``SERVICE_GRID``), the forecast gives (from its own
simulated demand paths, ``turnover.forecasting.protection.ServiceCurves``):

    S_ig   the par (order-up-to), the level's quantile of demand over lead time + review period, whole units
    ESC_ig expected shortage per review cycle at that par: E[(D_{L+R} - S)^+] - E[(D_L - S)^+]
    fill_ig = 1 - ESC_ig / E[D_R]                      (Silver, Pyke & Thomas eq. 6.13, lost-sales form)

Every quantity is read off the paths, so slow movers' discrete demand is used as it is (no normal
approximation). The location's fill rate is ``F = sum_i w_i fill_i / sum_i w_i`` with ``w_i = E[D_R,i]``
(units: the share of units asked for that is filled) or ``E[D_R,i] c_i`` (value). The stock it costs is
``sum_i c_i S_i`` (each par's value; the average on hand differs from it by terms that do not depend on
the level, so the differences are the safety stock's value).

The allocation is the Lagrangian relaxation (Everett 1963, "Generalized Lagrange multiplier method"): for
a price ``lam`` of stock value, each drug takes the level maximising ``w_i fill_ig - lam c_i S_ig``; a
higher price lowers every drug's level, so ``F(lam)`` falls with ``lam``, and bisection finds the highest
price whose levels still meet the target. The chosen levels lie on each drug's efficient (convex) curve of
fill against stock value: the most fill per unit of money first. A drug never goes below its floor (its
criticality's ``policy.service_level_floors``, a drug in shortage the shortage level); a target the grid's
top cannot reach leaves every drug at its highest useful level (its most fill), and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from turnover.forecasting.contract import PanelForecast
from turnover.forecasting.protection import ServiceCurves, at_levels
from turnover.settings import PolicySettings

#: Candidate cycle service levels (the frontier's sweep and the tiers' usual levels are among them).
SERVICE_GRID = (0.50, 0.60, 0.70, 0.75, 0.80, 0.85, 0.90, 0.92, 0.95, 0.96, 0.97, 0.975, 0.98, 0.985, 0.99,
                0.995, 0.999)
ITERATIONS = 60  # bisection steps on log(price): the price within 2^-60 of its range


@dataclass(frozen=True)
class Allocation:
    """The chosen grid index per drug, and per group its expected fill rate and whether the target is met."""

    index: np.ndarray  # (n,) into the grid
    fill_rate: np.ndarray  # (n,) each drug's expected fill rate at its chosen level
    group_fill_rate: dict  # group -> expected aggregate fill rate
    group_reached: dict  # group -> the target is met (False: every drug at the grid's top, and still short)


def fill_rates(shortage_units: np.ndarray, cycle_demand_units: np.ndarray) -> np.ndarray:
    """``1 - ESC / E[D_R]`` per drug and level, within [0, 1]; 1 where no demand is expected."""
    shortage = np.asarray(shortage_units, dtype=float)
    cycle = np.asarray(cycle_demand_units, dtype=float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(cycle > 0, 1.0 - shortage / cycle, 1.0)
    return np.clip(np.nan_to_num(fill, nan=1.0), 0.0, 1.0)


def floor_index(levels: np.ndarray, floors) -> np.ndarray:
    """The first grid level at or above each drug's floor (the grid's top if the floor is above it)."""
    levels = np.asarray(levels, dtype=float)
    at = np.searchsorted(levels, np.asarray(floors, dtype=float) - 1e-9, side="left")
    return np.minimum(at, len(levels) - 1)


def unit_costs(unit_cost) -> np.ndarray:
    """Costs to weigh stock by: a drug without a cost takes the median of the known ones; none known: 1 each
    (the allocation then saves units)."""
    cost = np.asarray(unit_cost, dtype=float)
    known = np.isfinite(cost) & (cost > 0)
    fill = float(np.median(cost[known])) if known.any() else 1.0
    return np.where(known, cost, fill)


def allocate(fill: np.ndarray, par_units: np.ndarray, cycle_demand_units, unit_cost, groups, floors: np.ndarray,
             target: float, weight: str = "units") -> Allocation:
    """Each drug's level (an index into the grid the curves were read on) meeting ``target`` per group.

    Args:
        fill: (n, G) expected fill rate per drug and grid level (:func:`fill_rates`).
        par_units: (n, G) the par at each level, whole units; non-decreasing along the grid.
        cycle_demand_units: (n,) expected demand per review cycle.
        unit_cost: (n,) cost per unit (missing: :func:`unit_costs`).
        groups: (n,) the group each drug's fill rate is pooled in (a location).
        floors: (n,) grid index each drug may not go below (:func:`floor_index`).
        target: the aggregate fill rate to meet in every group.
        weight: ``"units"`` (fill rate of units asked for) or ``"value"`` (of their value).
    """
    fill, par = np.asarray(fill, dtype=float), np.asarray(par_units, dtype=float)
    n, n_levels = fill.shape
    cost = unit_costs(unit_cost)
    cycle = np.maximum(np.nan_to_num(np.asarray(cycle_demand_units, dtype=float)), 0.0)
    w = cycle * (cost if weight == "value" else 1.0)
    floors = np.asarray(floors, dtype=np.int64)
    allowed = np.arange(n_levels)[None, :] >= floors[:, None]
    labels, group = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    # Per group: weights as shares, stock value as a share of the group's value at the grid's top, so one
    # price range fits every group.
    w_total = np.bincount(group, weights=w, minlength=len(labels))
    share = np.divide(w, w_total[group], out=np.zeros(n), where=w_total[group] > 0)
    value = cost[:, None] * par
    top_value = np.bincount(group, weights=value[:, -1], minlength=len(labels))
    value = value / np.where(top_value[group] > 0, top_value[group], 1.0)[:, None]
    gain = share[:, None] * fill

    def choose(price: np.ndarray) -> np.ndarray:  # price per group -> level per drug
        score = np.where(allowed, gain - price[group][:, None] * value, -np.inf)
        return np.argmax(score, axis=1)  # ties: the lower level

    def group_fill(index: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=gain[np.arange(n), index], minlength=len(labels))

    # Bisection on log(price) per group: low meets the target (or is the lowest price tried), high does not.
    low, high = np.full(len(labels), -30.0), np.full(len(labels), 30.0)
    for _ in range(ITERATIONS):
        mid = (low + high) / 2
        meets = group_fill(choose(np.exp(mid))) >= target - 1e-12
        low, high = np.where(meets, mid, low), np.where(meets, high, mid)
    index = choose(np.exp(low))
    at_floor = choose(np.full(len(labels), 1e30))  # a prohibitive price: every drug at its floor
    floor_fill = group_fill(at_floor)
    index = np.where((floor_fill >= target)[group], at_floor, index)
    achieved = group_fill(index)
    no_demand = w_total <= 0
    achieved = np.where(no_demand, 1.0, achieved)
    return Allocation(index, fill[np.arange(n), index], dict(zip(labels, achieved.tolist(), strict=True)),
                      dict(zip(labels, (achieved >= target - 1e-9).tolist(), strict=True)))


def service_basis(level: float, target: float, weight: str, group: str, floor: float, reached: bool) -> str:
    """The words of the par row's service basis under a fill-rate target."""
    words = (f"service level {level:.1%} chosen so that {group}'s drugs together fill {target:.1%} of "
             f"{'units' if weight == 'units' else 'the value'} asked for at the least stock value (floor {floor:.0%})")
    return words if reached else words + f"; the target is out of reach (every drug at its highest useful level, up to {SERVICE_GRID[-1]:.1%})"


def drug_floors(series: pd.DataFrame, policy: PolicySettings) -> np.ndarray:
    """Each drug's lowest level: its criticality's floor; a drug in shortage at least the shortage level."""
    criticality = series["criticality"].fillna(policy.default_criticality).to_numpy(dtype=object)
    floors = np.array([policy.service_level_floors.get(c, policy.service_level_floors[policy.default_criticality])
                       for c in criticality], dtype=float)
    shortage = series["in_shortage"].fillna(False).to_numpy(dtype=bool) if "in_shortage" in series else False
    return np.where(shortage, np.maximum(floors, policy.shortage.service_level), floors)


def meet_fill_rate(result: PanelForecast, series: pd.DataFrame, policy: PolicySettings,
                   curves: ServiceCurves | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The forecast's protection and calendar frames with each drug at the level the target allocates
    (``policy.fill_rate_target``, per location), ``expected_fill_rate`` and ``service_basis`` per drug; and
    the run's expected fill rate per location. ``result`` was read on ``SERVICE_GRID``
    (``ProtectionWindow.curve_levels``; ``curves``: its ``ServiceCurves``, when already stacked); ``series`` gives
    unit cost, criticality and shortage by key."""
    target = float(policy.fill_rate_target)  # type: ignore[arg-type]
    keys = result.protection[["location_id", "drug_id"]]
    known = keys.merge(series, on=["location_id", "drug_id"], how="left", validate="one_to_one")
    curves = curves or ServiceCurves.of(result.protection, SERVICE_GRID)
    fill = fill_rates(curves.shortage_units, curves.cycle_demand_units)
    floors = drug_floors(known, policy)
    chosen = allocate(fill, np.ceil(curves.protection_units - 1e-9), curves.cycle_demand_units, known["unit_cost"],
                      known["location_id"], floor_index(curves.levels, floors), target, policy.fill_rate_weight)
    protection, calendar = at_levels(result, chosen.index, curves)
    basis = [service_basis(level, target, policy.fill_rate_weight, loc, floor, chosen.group_reached[loc])
             for level, loc, floor in zip(curves.levels[chosen.index], keys["location_id"], floors, strict=True)]
    protection = protection.assign(expected_fill_rate=chosen.fill_rate, service_basis=basis)
    return protection, calendar, chosen.group_fill_rate
