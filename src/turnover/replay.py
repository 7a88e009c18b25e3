"""Inventory replay: run the recommended policy and two of today's rules against past demand.

For each review day (Mondays from ``start`` to ``end``) the forecast is made with the weeks before
it only, exactly as the weekly run would have made it then, and the par follows from it as in the
weekly run (service tier, floors, pack rounding, the expiry cap against the lots then on hand). Each
location x drug is then simulated day by day (``turnover.inventory_sim``): orders arrive after the
lead time, demand is served first-expiry-first-out, unmet demand is lost, lots expire.

Policies, side by side:

- ``turnover``: the seasonal forecast's service-level par, expiry-capped;
- ``minmax_flat365``: OpenBoxes-style min/max from a flat 365-day average and standard deviation
  (min = mu (L + R) + z sigma sqrt(L + R) at the same service level, max = min + mu R);
- ``days_of_supply``: par = N days of the flat 365-day average (``days_of_supply_days``).

Model choice is redone every ``reselect_every_weeks`` weeks (backtests and recalibration) and the
chosen models are refitted every week in between: the rule a weekly deployment would follow.
Each policy starts at its own order-up-to level, in fresh lots (so no recall applies to them).

Each review sees dated reference data only as of its own day (:class:`KnownOn`): the shortages FDA had
posted by then (extra lead time and the shortage service level in that week's window only) and the signal
weeks published by then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from turnover import calendar
from turnover.expiry import UsageCurve, cap_for_stock, usage_curves
from turnover.forecast import PanelForecast, ProtectionWindow, Selection, forecast_panel
from turnover.frontier import FrontierSettings, frontier_table
from turnover.inventory_sim import ItemParams, Lot, ReviewState, days_of_supply, minmax_flat_average, simulate
from turnover.io.demand import DemandPanel
from turnover.io.signals import LinkedSignal, published_by
from turnover.policy import order_in_packs, pars_from_quantiles, vital_floor_units
from turnover.settings import ForecastSettings, PolicySettings
from turnover.shortages import match_shortages

log = logging.getLogger(__name__)
progress = logging.getLogger("turnover.progress")

@dataclass(frozen=True)
class ReplaySettings:
    reselect_every_weeks: int = 13
    days_of_supply_days: float = 30.0
    flat_lookback_days: int = 365


@dataclass(frozen=True)
class KnownOn:
    """The dated reference data of a replay, for each review to cut at its own as-of.

    ``shortages``: ``io.fda.read_shortages`` rows (each applies from its posting date); ``signals``: each
    linked drug's signal (``io.signals.LinkedSignal``: each week from its publication).
    """

    shortages: pd.DataFrame | None = None
    signals: dict[str, LinkedSignal] | None = None

    def window(self, series: pd.DataFrame, policy: PolicySettings, as_of: date) -> ProtectionWindow:
        """The review's lead times and service levels: the series' own (``plan_series`` rows, whose shortage
        adjustment is taken off), with the shortages posted by ``as_of`` applied as ``plan_series`` does."""
        extra_days = series["shortage_extra_lead_days"] if "shortage_extra_lead_days" in series else 0
        lead_days = (series["lead_time_days"] - extra_days).to_numpy()
        service = series["service_level"].to_numpy(dtype=float)
        if self.shortages is not None and len(self.shortages):
            catalog = series[["drug_id", "generic_name"]].drop_duplicates("drug_id")
            short = series["drug_id"].isin(match_shortages(catalog, self.shortages, policy.shortage, as_of)["drug_id"])
            lead_days = lead_days + np.where(short, policy.shortage.extra_lead_time_days, 0)
            service = np.where(short, np.maximum(service, policy.shortage.service_level), service)
        return ProtectionWindow(lead_days, policy.review_period_days, service)

    def signals_on(self, as_of: date) -> dict[str, dict[int, float]]:
        """Each linked drug's signal as published by ``as_of``."""
        return published_by(self.signals or {}, as_of)


@dataclass(frozen=True)
class WeekPlan:
    """One review: per series the reorder point and par, and the expected-use curve for the cap."""

    day: int  # simulation day index of the review
    par_units: np.ndarray
    curves: list[UsageCurve | None]
    par_units_at: dict[float, np.ndarray] = field(default_factory=dict)  # the frontier's: every drug at a level


@dataclass(frozen=True)
class ReplayResult:
    per_series: pd.DataFrame  # policy x location x drug: the metrics
    totals: pd.DataFrame  # policy: the metrics over every series
    weeks: int
    frontier: pd.DataFrame | None = None  # policy x knob value: the totals (frontier.FRONTIER_COLUMNS)


def truncate(panel: DemandPanel, periods_back: int) -> DemandPanel:
    """The panel as it stood ``periods_back`` periods earlier (every series ends on the same period)."""
    lengths = np.diff(panel.offsets)
    keep = np.clip(lengths - periods_back, 0, None)
    pieces = [panel.history(i)[: keep[i]] for i in range(len(panel))]
    offsets = np.concatenate([[0], np.cumsum(keep)])
    return DemandPanel(panel.keys, offsets, np.concatenate(pieces) if pieces else np.array([]))


def review_days(start: date, end: date) -> list[date]:
    """Mondays from ``start`` through ``end``."""
    first = start + timedelta(days=(7 - start.weekday()) % 7)
    return [first + timedelta(weeks=k) for k in range((end - first).days // 7 + 1)]


def plan_weeks(panel_end: DemandPanel, end: date, series: pd.DataFrame, reviews: list[date], sim_start: date,
               forecast: ForecastSettings, policy: PolicySettings, known_on: KnownOn, every: int,
               levels: tuple[float, ...] = ()) -> list[WeekPlan]:
    """Forecast at each review with the history before it, and the shortages and signal weeks known then
    (``known_on``), and turn it into pars; with ``levels``, also the pars with every drug at each level.

    A level's pars reuse the week's model choice and recalibration (fitted for ``levels`` too, at each full
    selection) and only refit the chosen models: the same simulated paths, read at another quantile, at the
    cost of one refit per level and week (``forecast_panel`` returns one level's quantiles per call).
    """
    last_end = calendar.last_history_start(end, "week")
    pack = series["pack_size_units"].to_numpy(dtype=float)
    floor = vital_floor_units(series["criticality"], pack, policy)
    plans, selection = [], None
    extra = {"calibrate_levels": tuple(levels)} if levels else {}
    for k, review in enumerate(reviews):
        as_of = review - timedelta(days=1)
        back = (last_end - calendar.last_history_start(as_of, "week")).days // 7
        reuse: Selection | None = selection if k % every else None
        panel = truncate(panel_end, back)
        signals = known_on.signals_on(as_of)
        result = forecast_panel(panel, known_on.window(series, policy, as_of), as_of, forecast, signals, reuse,
                                **extra)
        selection = result.selection
        par = _pars(result, series, floor)
        at_level = {}
        for level in levels:
            window = known_on.window(series.assign(service_level=level), policy, as_of)
            at_level[level] = _pars(forecast_panel(panel, window, as_of, forecast, signals, selection), series, floor)
        by_key = usage_curves(result.forecast, series, "week", review)
        curves = [by_key.get(key) for key in zip(panel_end.keys["location_id"], panel_end.keys["drug_id"], strict=True)]
        plans.append(WeekPlan((review - sim_start).days, par, curves, at_level))
        log.info("replay: forecast for %s (%s)", review, "refit" if reuse else "full selection")
        # ``turnover replay`` draws these as a progress bar (cli.progress_bar); elsewhere they are log lines.
        progress.info("replay: %d of %d weeks", k + 1, len(reviews),
                      extra={"step": "replay", "done": k + 1, "total": len(reviews), "unit": "weeks"})
    return plans


def _pars(result: PanelForecast, series: pd.DataFrame, floor: np.ndarray) -> np.ndarray:
    """The week's par per series from its forecast, with the floors (a dead item keeps only them)."""
    prot = result.protection
    dead = result.classes["lifecycle"].to_numpy() == "dead"
    return pars_from_quantiles(prot["lead_time_demand_units"], prot["protection_demand_units"], dead,
                               series["min_par_units"], floor)[2]


def turnover_rule(i: int, plans: list[WeekPlan], params: ItemParams, floor: float,
                  level: float | None = None) -> Callable[[ReviewState], float]:
    """Order up to the week's par (with ``level``: the par with every drug at that level), within the expiry
    cap (projected FEFO on the lots held then)."""
    by_day = {p.day: p for p in plans}

    def rule(state: ReviewState) -> float:
        plan = by_day[state.day]
        position = state.on_hand_units + state.on_order_units
        par = plan.par_units[i] if level is None else plan.par_units_at[level][i]
        needed = max(par - position, 0.0)
        cap = np.inf
        curve = plan.curves[i]
        if params.shelf_life_days and curve is not None:
            units = np.array([lot.units for lot in state.on_hand_lots], dtype=float)
            days = np.array([np.inf if lot.expires_on_day is None else lot.expires_on_day - state.day
                             for lot in state.on_hand_lots], dtype=float)
            _, _, cap = cap_for_stock(curve, units, days, state.on_order_units, params.lead_time_days,
                                   params.shelf_life_days)
        packs, _, _ = order_in_packs([needed], [position], [params.pack_size_units], [cap], [floor])
        return float(packs[0] * params.pack_size_units)

    return rule


def run_replay(panel_end: DemandPanel, daily: np.ndarray, day0: date, series: pd.DataFrame, start: date, end: date,
               forecast: ForecastSettings, policy: PolicySettings, known_on: KnownOn | None = None,
               replay: ReplaySettings = ReplaySettings(), frontier: FrontierSettings | None = None) -> ReplayResult:
    """Replay the three policies from ``start`` to ``end`` (inclusive); with ``frontier``, also each policy at
    every value of its knob (``ReplayResult.frontier``).

    Args:
        panel_end: weekly demand series as of ``end`` (``staging.demand_series``), in ``series`` order.
        daily: daily demand units, one row per series, columns = days from ``day0`` through ``end``.
        series: per series lead time, pack size, shelf life, unit cost, criticality, service level,
            catalog minimum and annual usage (``turnover.policy.plan_series`` rows).
        known_on: the shortages and signals, which each review cuts at its own as-of (default: none).
        frontier: the knob values to sweep (``turnover.frontier``); None: the three policies only.
    """
    reviews = review_days(start, end)
    if not reviews:
        raise ValueError(f"no review day (Monday) between {start} and {end}")
    sim_start = reviews[0]
    offset = (sim_start - day0).days
    n_days = (end - sim_start).days + 1
    knobs = frontier.knobs() if frontier else {}
    plans = plan_weeks(panel_end, end, series, reviews, sim_start, forecast, policy, known_on or KnownOn(),
                       replay.reselect_every_weeks, knobs.get("turnover", ("", ()))[1])
    floor = vital_floor_units(series["criticality"], series["pack_size_units"].to_numpy(dtype=float), policy)
    rows, swept = [], []
    for i, item in enumerate(series.itertuples(index=False)):
        params = ItemParams(
            lead_time_days=int(item.lead_time_days), review_period_days=policy.review_period_days,
            pack_size_units=float(item.pack_size_units),
            shelf_life_days=int(item.shelf_life_days) if pd.notna(item.shelf_life_days) else None,
            unit_cost=float(item.unit_cost) if pd.notna(item.unit_cost) else None,
        )
        history = daily[i]
        demand = history[offset: offset + n_days]
        rules = _rules(i, plans, params, float(floor[i]), history, offset, replay)
        # the default settings: turnover at the series' tier, min/max's z at the same level, the days given
        defaults = {"turnover": None, "minmax_flat365": float(norm.ppf(item.service_level)),
                    "days_of_supply": replay.days_of_supply_days}
        for name, rule in rules.items():
            rows.append({"policy": name, "location_id": item.location_id, "drug_id": item.drug_id,
                         **_simulate(demand, params, rule(defaults[name]))})
        for name, (knob, values) in knobs.items():
            swept += [{"policy": name, "knob": knob, "knob_value": v, **_simulate(demand, params, rules[name](v))}
                      for v in values]
        if knobs:
            progress.info("frontier: %d of %d series", i + 1, len(series),
                          extra={"step": "frontier", "done": i + 1, "total": len(series), "unit": "series"})
    per_series = pd.DataFrame(rows)
    table = None
    if knobs:
        swept_rows = pd.DataFrame(swept)
        table = frontier_table(pd.concat(
            [totals(group, n_days).assign(knob=knob, knob_value=value)
             for (knob, value), group in swept_rows.groupby(["knob", "knob_value"], sort=False)], ignore_index=True))
    return ReplayResult(per_series, totals(per_series, n_days), len(reviews), table)


def _rules(i: int, plans: list[WeekPlan], params: ItemParams, floor: float, history: np.ndarray, offset: int,
           replay: ReplaySettings) -> dict[str, Callable[[float | None], Callable[[ReviewState], float]]]:
    """Per policy: its rule at a value of its knob (turnover: a service level for every drug, None for the
    tiers; min/max: z; days of supply: days)."""
    def ours(level):
        return turnover_rule(i, plans, params, floor, level)

    def minmax(z):
        return minmax_flat_average(history, params, z, replay.flat_lookback_days, history_offset=offset)

    def supply(days):
        return days_of_supply(history, params, days, replay.flat_lookback_days, history_offset=offset)

    return {"turnover": ours, "minmax_flat365": minmax, "days_of_supply": supply}


def _simulate(demand: np.ndarray, params: ItemParams, rule) -> dict:
    """One policy on one series, from its own order-up-to level in fresh lots: the summary metrics."""
    start_units = _opening_stock(rule, params)
    lots = [Lot(start_units, params.shelf_life_days)] if start_units > 0 else []
    return simulate(demand, params, rule, lots).summary(params)


def _opening_stock(rule, params: ItemParams) -> float:
    """Each policy starts where it would order up to on the first day with nothing on hand."""
    return max(rule(ReviewState(0, (), 0.0, 0.0, params.pack_size_units)), 0.0)


def totals(per_series: pd.DataFrame, n_days: int) -> pd.DataFrame:
    """Per policy: fill rate and turns over all series (units and value), CSL over all cycles."""
    out = []
    for name, rows in per_series.groupby("policy", sort=False):
        demand, served = rows["demand_units"].sum(), rows["served_units"].sum()
        on_hand_value = rows["avg_on_hand_value"].sum(min_count=1)
        cost = rows["avg_on_hand_value"] / rows["avg_on_hand_units"].where(rows["avg_on_hand_units"] > 0)
        served_value = (rows["served_units"] * cost).sum(min_count=1)
        cycles = rows["cycles"].sum()
        out.append({
            "policy": name, "series": len(rows), "demand_units": demand, "served_units": served,
            "fill_rate": served / demand if demand else np.nan,
            "cycle_service_level": 1 - rows["stockout_weeks"].sum() / cycles if cycles else np.nan,
            "stockout_weeks": int(rows["stockout_weeks"].sum()),
            "avg_on_hand_units": rows["avg_on_hand_units"].sum(), "avg_on_hand_value": on_hand_value,
            "turns": served_value * 365.0 / n_days / on_hand_value if on_hand_value else np.nan,
            "expired_units": rows["expired_units"].sum(), "expired_value": rows["expired_value"].sum(min_count=1),
        })
    return pd.DataFrame(out)

