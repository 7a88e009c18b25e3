"""Daily inventory replay of one item (location x drug) under an ordering rule.

The inventory replay (DOMAIN.md, "Measuring") runs an ordering policy against a past demand series
and reports what a pharmacy would have lived through: fill rate, cycle service level, stockout weeks,
average on hand, turns and units expired. This module is the single-item simulator and the ordering
rules pharmacies use today; the loop over items and policies belongs to the replay.

Conventions:

- Days are indices 0 .. n-1 into ``demand_units``. Orders are reviewed every ``review_period_days``
  (R) from ``first_review_day`` and arrive ``lead_time_days`` (L) later, in whole packs.
- Lost sales: demand not served from stock that day is lost, not backordered, so the inventory
  position is on hand + on order (nothing to subtract for backorders).
- FEFO lots: each lot carries the day from which it is unusable (``expires_on_day``). Demand draws
  on the earliest-expiring lot first; lots that never expire go last. A received lot expires
  ``shelf_life_days`` after its arrival day (or never). Expired lots leave the position.
- Within day d, in this order: (1) lots with ``expires_on_day <= d`` are removed and counted as
  expired; (2) orders placed on day d - L are received; (3) on a review day the rule sees the
  usable lots and what is on order, and the order, rounded up to whole packs, is placed (with
  L = 0 it is received at once); (4) the day's demand (negative values count as 0) is served.
  On hand at the end of the day is after demand. An order due after the last day is never received.
- A review cycle is the R days from one review to the day before the next. Cycle metrics count
  complete cycles only: days before the first review and a trailing part-cycle are left out.

Metrics (``SimResult.summary``), with the words of DOMAIN.md:

    fill rate            = served units / demand units           (NaN without demand)
    cycle service level  = share of complete cycles with no lost units  (P(no stockout in a cycle))
    stockout weeks       = complete cycles with any lost units
    avg on hand          = mean of end-of-day on hand
    turns                = annual usage / avg on hand = served * days_per_year / n_days / avg on hand
    days on hand         = days_per_year / turns = avg on hand / daily usage

Turns are in units: for one item the unit cost cancels from "annual usage at cost / average
inventory at cost".
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from turnover.inventory.ordering import EPSILON, order_in_packs

NEVER = math.inf  # internal expiry key of a lot that never expires: sorts after every day

DAILY_COLUMNS = ["day", "demand_units", "served_units", "lost_units", "on_hand_end_units", "expired_units",
                 "received_units", "ordered_units"]


@dataclass(frozen=True)
class ItemParams:
    """Replenishment settings of one item: lead time, review period, pack, shelf life, cost."""

    lead_time_days: int
    review_period_days: int = 7
    pack_size_units: float = 1.0
    shelf_life_days: int | None = None  # from receipt; None: never expires
    unit_cost: float | None = None


@dataclass(frozen=True)
class Lot:
    """Units that share an expiry day, unusable from ``expires_on_day`` on (None: never expires)."""

    units: float
    expires_on_day: int | None


@dataclass(frozen=True)
class ReviewState:
    """What an ordering rule sees at a review, at the start of ``day`` after expiry and receipts."""

    day: int
    on_hand_lots: tuple[Lot, ...]  # usable lots, FEFO order
    on_order_units: float  # placed, not yet received
    on_hand_units: float  # sum of usable lots
    pack_size_units: float = 1.0  # so a rule can respect a cap in whole packs

    @property
    def position_units(self) -> float:
        """Inventory position: on hand + on order (lost sales: no backorders)."""
        return self.on_hand_units + self.on_order_units


OrderRule = Callable[[ReviewState], float]  # units to order before pack rounding; <= 0: none


@dataclass(frozen=True)
class SimResult:
    """The day-by-day replay of one item; ``summary`` condenses it into the replay's metrics."""

    daily: pd.DataFrame  # one row per day, columns DAILY_COLUMNS
    first_review_day: int = 0  # where the review cycles start, for the cycle metrics

    def summary(self, params: ItemParams, days_per_year: float = 365.0) -> dict:
        """Fill rate, CSL, stockout weeks, on hand, turns, days on hand, expiry and orders of the run."""
        daily = self.daily
        n_days = len(daily)
        demand = float(daily["demand_units"].sum())
        served = float(daily["served_units"].sum())
        avg_on_hand = float(daily["on_hand_end_units"].mean()) if n_days else math.nan
        turns = served * days_per_year / n_days / avg_on_hand if n_days and avg_on_hand > 0 else math.nan
        # Stock held but never used has infinitely many days on hand; no stock at all has none defined.
        days_on_hand = days_per_year / turns if turns > 0 else (math.inf if turns == 0 else math.nan)
        cycle_lost = _lost_per_cycle(daily["lost_units"].to_numpy(), self.first_review_day, params.review_period_days)
        stockout_weeks = int((cycle_lost > 0).sum())
        expired = float(daily["expired_units"].sum())
        cost = math.nan if params.unit_cost is None else float(params.unit_cost)
        return {
            "demand_units": demand,
            "served_units": served,
            "fill_rate": served / demand if demand > 0 else math.nan,
            "cycles": len(cycle_lost),
            "cycle_service_level": 1 - stockout_weeks / len(cycle_lost) if len(cycle_lost) else math.nan,
            "stockout_weeks": stockout_weeks,
            "avg_on_hand_units": avg_on_hand,
            "avg_on_hand_value": avg_on_hand * cost,
            "turns": turns,
            "days_on_hand": days_on_hand,
            "expired_units": expired,
            "expired_value": expired * cost,
            "orders": int((daily["ordered_units"] > 0).sum()),
            "ordered_units": float(daily["ordered_units"].sum()),
            "demand_value": demand * cost,
        }


def _lost_per_cycle(lost_units: np.ndarray, first_review_day: int, review_period_days: int) -> np.ndarray:
    """Lost units in each complete review cycle, in order."""
    n_cycles = max(0, (len(lost_units) - first_review_day) // review_period_days)
    end = first_review_day + n_cycles * review_period_days
    return lost_units[first_review_day:end].reshape(n_cycles, review_period_days).sum(axis=1)


def _validate(demand: np.ndarray, params: ItemParams, first_review_day: int) -> None:
    if demand.ndim != 1 or not np.isfinite(demand).all():
        raise ValueError("demand_units must be a finite 1-D array")
    if params.lead_time_days < 0 or params.review_period_days < 1 or first_review_day < 0:
        raise ValueError("need lead_time_days >= 0, review_period_days >= 1, first_review_day >= 0")
    if not params.pack_size_units > 0:
        raise ValueError("pack_size_units must be positive")
    if params.shelf_life_days is not None and params.shelf_life_days < 1:
        raise ValueError("shelf_life_days must be at least 1 day (or None)")


def simulate(demand_units: np.ndarray, params: ItemParams, rule: OrderRule, initial_lots: Sequence[Lot] = (),
             first_review_day: int = 0) -> SimResult:
    """Replay ``rule`` against daily demand with lost sales, FEFO lots, lead time, packs and expiry.

    Args:
        demand_units: demand per day, in units; day 0 is the first simulated day.
        params: lead time, review period (days), pack size (units), shelf life from receipt (days).
        rule: units to order at a review, given the ``ReviewState``; rounded up to whole packs here.
        initial_lots: stock on hand at the start of day 0 (expiry days on the same day axis).
        first_review_day: day of the first review; later reviews every ``review_period_days``.
    """
    demand = np.maximum(np.asarray(demand_units, dtype=float), 0.0)
    _validate(demand, params, first_review_day)
    lead, period, pack = params.lead_time_days, params.review_period_days, float(params.pack_size_units)
    shelf = NEVER if params.shelf_life_days is None else params.shelf_life_days
    if any(lot.units < 0 for lot in initial_lots):
        raise ValueError("initial lots cannot hold negative units")
    # Lots as [expiry key, units], kept sorted by expiry: FEFO serves from the front.
    lots = sorted(([NEVER if lot.expires_on_day is None else lot.expires_on_day, float(lot.units)]
                   for lot in initial_lots if lot.units > 0), key=lambda lot: lot[0])
    pipeline: dict[int, float] = {}  # arrival day -> units
    n = len(demand)
    served, expired, received, ordered, on_hand_end = ([0.0] * n for _ in range(5))
    for day, wanted in enumerate(demand.tolist()):
        while lots and lots[0][0] <= day:
            expired[day] += lots.pop(0)[1]
        if day in pipeline:
            received[day] = _receive(lots, pipeline.pop(day), day + shelf)
        if day >= first_review_day and (day - first_review_day) % period == 0:
            state = _review_state(day, lots, pipeline, pack)
            packs = max(0, math.ceil(rule(state) / pack - EPSILON))
            ordered[day] = packs * pack
            if packs and lead == 0:
                received[day] += _receive(lots, ordered[day], day + shelf)
            elif packs:
                pipeline[day + lead] = pipeline.get(day + lead, 0.0) + ordered[day]
        need = wanted
        while need > 0 and lots:
            take = min(lots[0][1], need)
            lots[0][1] -= take
            need -= take
            if lots[0][1] <= EPSILON:
                lots.pop(0)
        served[day] = wanted - need
        on_hand_end[day] = sum(units for _, units in lots)
    daily = pd.DataFrame({"day": np.arange(n), "demand_units": demand, "served_units": served,
                          "lost_units": demand - np.asarray(served), "on_hand_end_units": on_hand_end,
                          "expired_units": expired, "received_units": received, "ordered_units": ordered},
                         columns=DAILY_COLUMNS)
    return SimResult(daily, first_review_day)


def _receive(lots: list[list[float]], units: float, expires: float) -> float:
    """Put a received lot in its FEFO place; returns the units received."""
    bisect.insort_right(lots, [expires, units], key=lambda lot: lot[0])
    return units


def _review_state(day: int, lots: list[list[float]], pipeline: dict[int, float], pack: float) -> ReviewState:
    on_hand_lots = tuple(Lot(units, None if expiry == NEVER else int(expiry)) for expiry, units in lots)
    return ReviewState(day=day, on_hand_lots=on_hand_lots, on_order_units=sum(pipeline.values()),
                       on_hand_units=sum(lot.units for lot in on_hand_lots), pack_size_units=pack)


def order_up_to_rule(targets: Callable[[ReviewState], tuple[float, float | None]]) -> OrderRule:
    """A rule ordering up to par, never more than a cap (an expiry cap) once rounded to whole packs.

    ``targets(state)`` returns ``(par_units, cap_units or None)``. The order is max(0, par - position);
    with a cap, it is the fewer of the packs that order needs (rounded up) and the packs the cap
    allows (rounded down), so the simulator's rounding up never exceeds the cap.
    """

    def rule(state: ReviewState) -> float:
        par_units, cap_units = targets(state)
        units = max(0.0, par_units - state.position_units)
        if cap_units is None:
            return units
        packs, _, _ = order_in_packs([units], [state.position_units], [state.pack_size_units], [cap_units], [0.0])
        return float(packs[0]) * state.pack_size_units

    return rule


def _known_window(history_units: np.ndarray, end: int, lookback_days: int) -> np.ndarray:
    """The last ``lookback_days`` of history before index ``end`` (the review day: not yet known)."""
    return history_units[max(0, end - lookback_days):max(0, end)]


def _history(history_units: np.ndarray) -> np.ndarray:
    history = np.maximum(np.asarray(history_units, dtype=float), 0.0)
    if history.ndim != 1 or not np.isfinite(history).all():
        raise ValueError("history_units must be a finite 1-D array")
    return history


def minmax_flat_average(history_units: np.ndarray, params: ItemParams, service_z: float = 1.645,
                        lookback_days: int = 365, *, history_offset: int) -> OrderRule:
    """OpenBoxes-style min/max from a flat average of the days before each review.

    With mu and sigma the mean and (population) standard deviation of daily demand over the last
    ``lookback_days`` before the review day:

        min = mu (L + R) + z sigma sqrt(L + R),   max = min + mu R
        order = max - position if position <= min, else 0

    Args:
        history_units: daily demand, in units, from before the simulation through (at least) its end.
        params: lead time L and review period R, in days.
        service_z: the standard normal quantile of the cycle service level (1.645: 95%).
        lookback_days: days averaged (OpenBoxes: 365).
        history_offset: index in ``history_units`` of simulation day 0 (days of history before it).
    """
    history = _history(history_units)
    cover_days = params.lead_time_days + params.review_period_days

    def rule(state: ReviewState) -> float:
        window = _known_window(history, history_offset + state.day, lookback_days)
        mu, sigma = (float(window.mean()), float(window.std())) if len(window) else (0.0, 0.0)
        minimum = mu * cover_days + service_z * sigma * math.sqrt(cover_days)
        maximum = minimum + mu * params.review_period_days
        position = state.position_units
        return maximum - position if position <= minimum else 0.0

    return rule


def days_of_supply(history_units: np.ndarray, params: ItemParams, days: float = 30, lookback_days: int = 365, *,
                   history_offset: int) -> OrderRule:
    """Par = a flat average of the days before each review x ``days`` of cover; order par - position.

    Args:
        history_units: daily demand, in units, from before the simulation through (at least) its end.
        params: unused beyond the common signature (the cover ignores lead time and review period).
        days: days of cover the par holds.
        lookback_days: days averaged.
        history_offset: index in ``history_units`` of simulation day 0 (days of history before it).
    """
    history = _history(history_units)

    def rule(state: ReviewState) -> float:
        window = _known_window(history, history_offset + state.day, lookback_days)
        mu = float(window.mean()) if len(window) else 0.0
        return max(0.0, mu * days - state.position_units)

    return rule
