"""Inventory replay: run the recommended policy and two of today's rules against past demand.

For each review day (Mondays from ``start`` to ``end``) the forecast is made with the weeks before
it only, exactly as the weekly run would have made it then, and the par follows from it as in the
weekly run (service tier, floors, pack rounding, the expiry cap against the lots then on hand). Each
location x drug is then simulated day by day (``turnover.simulation.simulator``): orders arrive after the
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
weeks published by then. Its series frame is the one ``policy.plan_series`` would have built on its as-of
(:func:`series_on`): annual usage from the usage window before the review (as ``io/sql/series.sql`` sums it),
hence the ABC tier and service level (for the par and for min/max's z) and the expiry cap's flat tail. The
catalog (lead time, pack, shelf life, unit cost, criticality, minimum) is not dated: it is taken as loaded,
at every review, and the simulated days use it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from turnover import calendar
from turnover.forecasting.contract import PanelForecast, ProtectionWindow, Selection
from turnover.forecasting.forecast import forecast_panel
from turnover.forecasting.protection import CURVE_COLUMNS, ServiceCurves, at_levels
from turnover.forecasting.signals import LinkedSignal, published_by
from turnover.inventory import peak_cap
from turnover.inventory.allocation import SERVICE_GRID, drug_floors, meet_fill_rate
from turnover.inventory.expiry import UsageCurve, cap_for_stock, usage_curves
from turnover.inventory.policy import order_in_packs, pars_from_quantiles, vital_floor_units
from turnover.inventory.shortages import match_shortages
from turnover.inventory.tiers import assign_service_levels
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings, PolicySettings
from turnover.simulation.frontier import ONE_LEVEL, OUR_POLICIES, OURS, FrontierSettings, frontier_table
from turnover.simulation.simulator import ItemParams, Lot, ReviewState, days_of_supply, minmax_flat_average, simulate

log = logging.getLogger(__name__)
progress = logging.getLogger("turnover.progress")

@dataclass(frozen=True)
class ReplaySettings:
    reselect_every_weeks: int = 13
    days_of_supply_days: float = 30.0
    flat_lookback_days: int = 365


@dataclass(frozen=True)
class DailyUsage:
    """Net units dispensed per day, one row per series (in ``series`` order), one column per day from ``day0``
    (``io.demand.read_daily_demand(..., net=True)``): what a review's usage window sums."""

    net_units: np.ndarray
    day0: date

    def annual_usage_units(self, as_of: date, first_dispensed_on, window_days: int) -> np.ndarray:
        """Each series' ``annual_usage_units`` as ``io/sql/series.sql`` computes it on ``as_of``: net units over the
        ``window_days`` days through ``as_of`` (at least 0) x 365 / the days since first dispensed, between 28 and
        the window (``first_dispensed_on``: per series, NaT where never dispensed)."""
        last = (as_of - self.day0).days
        first = last - window_days + 1
        if first < 0 or last >= self.net_units.shape[1]:
            raise ValueError(f"the daily demand from {self.day0} does not cover the {window_days} days through {as_of}")
        units = np.maximum(self.net_units[:, first: last + 1].sum(axis=1), 0.0)
        since = (pd.Timestamp(as_of) - pd.to_datetime(pd.Series(first_dispensed_on))).dt.days.to_numpy(dtype=float)
        days = np.where(np.isnan(since), window_days, np.minimum(window_days, since + 1))
        return units * 365.0 / np.maximum(days, 28)


def series_on(series: pd.DataFrame, usage: DailyUsage, as_of: date, policy: PolicySettings) -> pd.DataFrame:
    """``series`` as ``plan_series`` would have planned it on ``as_of``, before shortages (:class:`KnownOn` applies
    those): ``annual_usage_units`` from the usage window through ``as_of``, and the ABC class and service level from
    it (``tiers.assign_service_levels``); every other column (the catalog's) as given."""
    first = series["first_dispensed_on"] if "first_dispensed_on" in series else [pd.NaT] * len(series)
    annual = usage.annual_usage_units(as_of, first, policy.usage_window_days)
    return assign_service_levels(series.assign(annual_usage_units=annual), policy)


@dataclass(frozen=True)
class KnownOn:
    """The dated data of a replay, for each review to cut at its own as-of.

    ``shortages``: ``io.fda.read_shortages`` rows (each applies from its posting date); ``signals``: each
    linked drug's signal (``forecasting.signals.LinkedSignal``: each week from its publication); ``usage``: the daily
    dispensing whose usage window sets each review's annual usage and tier (``run_replay`` fills it from its
    ``daily``; None: the series' own columns, as planned by the caller).
    """

    shortages: pd.DataFrame | None = None
    signals: dict[str, LinkedSignal] | None = None
    usage: DailyUsage | None = None

    def series(self, series: pd.DataFrame, policy: PolicySettings, as_of: date) -> pd.DataFrame:
        """The review's series frame: :func:`series_on` ``as_of`` (``series`` as given without ``usage``)."""
        return series if self.usage is None else series_on(series, self.usage, as_of, policy)

    def in_shortage(self, series: pd.DataFrame, policy: PolicySettings, as_of: date) -> np.ndarray:
        """Per series, whether its drug is in a shortage posted by ``as_of``."""
        if self.shortages is None or not len(self.shortages):
            return np.zeros(len(series), dtype=bool)
        catalog = series[["drug_id", "generic_name"]].drop_duplicates("drug_id")
        return series["drug_id"].isin(match_shortages(catalog, self.shortages, policy.shortage, as_of)["drug_id"]
                                      ).to_numpy(dtype=bool)

    def window(self, series: pd.DataFrame, policy: PolicySettings, as_of: date,
               curve_levels: tuple[float, ...] = ()) -> ProtectionWindow:
        """The review's lead times and service levels: the series' own (``plan_series`` rows, whose shortage
        adjustment is taken off), with the shortages posted by ``as_of`` applied as ``plan_series`` does."""
        extra_days = series["shortage_extra_lead_days"] if "shortage_extra_lead_days" in series else 0
        lead_days = (series["lead_time_days"] - extra_days).to_numpy()
        service = series["service_level"].to_numpy(dtype=float)
        short = self.in_shortage(series, policy, as_of)
        lead_days = lead_days + np.where(short, policy.shortage.extra_lead_time_days, 0)
        service = np.where(short, np.maximum(service, policy.shortage.service_level), service)
        return ProtectionWindow(lead_days, policy.review_period_days, service, curve_levels=curve_levels)

    def signals_on(self, as_of: date) -> dict[str, dict[int, float]]:
        """Each linked drug's signal as published by ``as_of``."""
        return published_by(self.signals or {}, as_of)


@dataclass(frozen=True)
class WeekPlan:
    """One review: per series the reorder point and par, and the expected-use curve for the cap."""

    day: int  # simulation day index of the review
    par_units: np.ndarray
    curves: list[UsageCurve | None]
    par_units_at: dict[tuple[str, float], np.ndarray] = field(default_factory=dict)  # the frontier's: (policy, knob)
    tiers: pd.DataFrame | None = None  # per series as of the review: annual_usage_units, abc_class, service_level


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
               knobs: dict[str, tuple[str, tuple[float, ...]]] | None = None) -> list[WeekPlan]:
    """Forecast at each review with the history before it, and the shortages and signal weeks known then
    (``known_on``), and turn it into pars (under ``policy.fill_rate_target``, each drug at the level the target
    allocates, as the weekly run does); with ``knobs`` (the frontier's turnover sweeps), also the pars at each
    knob value: ``fill_rate_target`` (allocated) or ``service_level`` (one level for every drug).

    Every knob is read off the same forecast: its service curves (``forecast.ServiceCurves``, the paths read at
    each level of ``allocation.SERVICE_GRID``), so a sweep costs no refit.
    """
    knobs = {name: spec for name, spec in (knobs or {}).items() if spec[0] in ("fill_rate_target", "service_level")}
    grid = SERVICE_GRID if (knobs or policy.fill_rate_target) else ()
    last_end = calendar.last_history_start(end, "week")
    pack = series["pack_size_units"].to_numpy(dtype=float)
    floor = vital_floor_units(series["criticality"], pack, policy)
    plans, selection = [], None
    for k, review in enumerate(reviews):
        as_of = review - timedelta(days=1)
        back = (last_end - calendar.last_history_start(as_of, "week")).days // 7
        reuse: Selection | None = selection if k % every else None
        planned = known_on.series(series, policy, as_of)  # annual usage, tier (and the cap's tail) as of then
        planned = planned.assign(in_shortage=known_on.in_shortage(planned, policy, as_of))
        result = forecast_panel(truncate(panel_end, back), known_on.window(planned, policy, as_of, grid), as_of,
                                forecast, known_on.signals_on(as_of), reuse)
        selection = result.selection
        service = ServiceCurves.of(result.protection, SERVICE_GRID) if grid else None  # stacked once a week
        par = _pars(_read(result, planned, policy, policy.fill_rate_target, service), result, planned, floor, policy)
        at_knob = {}
        for name, (knob, values) in knobs.items():
            for value in values:
                protection = _read(result, planned, policy, value, service) if knob == "fill_rate_target" else \
                    at_levels(result, np.full(len(planned), SERVICE_GRID.index(value)), service)[0]
                at_knob[name, value] = _pars(protection, result, planned, floor, policy)
        by_key = usage_curves(result.forecast, planned, "week", review)
        curves = [by_key.get(key) for key in zip(panel_end.keys["location_id"], panel_end.keys["drug_id"], strict=True)]
        tiers = planned.reindex(columns=["annual_usage_units", "abc_class", "service_level"]).reset_index(drop=True)
        plans.append(WeekPlan((review - sim_start).days, par, curves, at_knob, tiers))
        log.info("replay: forecast for %s (%s)", review, "refit" if reuse else "full selection")
        # ``turnover replay`` draws these as a progress bar (cli.progress_bar); elsewhere they are log lines.
        progress.info("replay: %d of %d weeks", k + 1, len(reviews),
                      extra={"step": "replay", "done": k + 1, "total": len(reviews), "unit": "weeks"})
    return plans


def _read(result: PanelForecast, planned: pd.DataFrame, policy: PolicySettings, target: float | None,
          service: ServiceCurves | None = None) -> pd.DataFrame:
    """The week's protection frame: at the tiers' levels, or with each drug at the level ``target`` (a fill
    rate) allocates (``allocation.meet_fill_rate``)."""
    if target:
        return meet_fill_rate(result, planned, policy.model_copy(update={"fill_rate_target": target}), service)[0]
    return result.protection.drop(columns=list(CURVE_COLUMNS), errors="ignore")


def _pars(protection: pd.DataFrame, result: PanelForecast, series: pd.DataFrame, floor: np.ndarray,
          policy: PolicySettings) -> np.ndarray:
    """The week's par per series from its protection frame, within the peak-season bound (``turnover.inventory.peak_cap``, as
    the weekly run's par levels), with the floors (a dead item keeps only them)."""
    dead = result.classes["lifecycle"].to_numpy() == "dead"
    lead_bound, par_bound = peak_cap.bounds(protection, policy.peak_cap_multiple)
    return pars_from_quantiles(peak_cap.limit(protection["lead_time_demand_units"], lead_bound),
                               peak_cap.limit(protection["protection_demand_units"], par_bound), dead,
                               series["min_par_units"], floor)[2]


def turnover_rule(i: int, plans: list[WeekPlan], params: ItemParams, floor: float,
                  knob: tuple[str, float] | None = None) -> Callable[[ReviewState], float]:
    """Order up to the week's par (with ``knob``: the par at that frontier setting, ``WeekPlan.par_units_at``),
    within the expiry cap (projected FEFO on the lots held then)."""
    by_day = {p.day: p for p in plans}

    def rule(state: ReviewState) -> float:
        plan = by_day[state.day]
        position = state.on_hand_units + state.on_order_units
        par = plan.par_units[i] if knob is None else plan.par_units_at[knob][i]
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
        daily: net units dispensed per day, one row per series, columns = days from ``day0`` (at least
            ``policy.usage_window_days`` before the first review) through ``end``: a day's demand is its positive
            part, each review's annual usage sums the days of its usage window
            (``io.demand.read_daily_demand(..., net=True)``).
        series: per series lead time, pack size, shelf life, unit cost, criticality, generic name, first dispensed,
            catalog minimum (``turnover.inventory.policy.plan_series`` rows, any as-of: each review plans its own annual
            usage and tier, :func:`series_on`; the shortages' lead time is taken off, :class:`KnownOn`).
        known_on: the shortages and signals, which each review cuts at its own as-of (default: none).
        frontier: the knob values to sweep (``turnover.simulation.frontier``); None: the three policies only.
    """
    reviews = review_days(start, end)
    if not reviews:
        raise ValueError(f"no review day (Monday) between {start} and {end}")
    sim_start = reviews[0]
    offset = (sim_start - day0).days
    n_days = (end - sim_start).days + 1
    knobs = frontier.knobs() if frontier else {}
    known_on = replace(known_on or KnownOn(), usage=DailyUsage(daily, day0))
    plans = plan_weeks(panel_end, end, series, reviews, sim_start, forecast, policy, known_on,
                       replay.reselect_every_weeks, {name: knobs[name] for name in OUR_POLICIES if name in knobs})
    floor = vital_floor_units(series["criticality"], series["pack_size_units"].to_numpy(dtype=float), policy)
    daily = np.maximum(daily, 0.0)  # a day of more returns than dispensing is a day of no demand
    tier_z = norm.ppf(np.array([plan.tiers["service_level"].to_numpy(dtype=float) for plan in plans]))
    floor_z = norm.ppf(drug_floors(series.assign(in_shortage=False), policy))
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
        # the default settings: turnover at the series' tier, min/max's z at the same level (each review's), the days
        defaults = {"turnover": rules["turnover"](None),
                    "minmax_flat365": _each_review(plans, tier_z[:, i], rules["minmax_flat365"]),
                    "days_of_supply": rules["days_of_supply"](replay.days_of_supply_days)}
        for name, rule in defaults.items():
            rows.append({"policy": name, "location_id": item.location_id, "drug_id": item.drug_id,
                         **_simulate(demand, params, rule)})
        for name, (knob, values) in knobs.items():
            # min/max's z at least the drug's floor when the frontier says so: vital drugs protected on both curves
            at = (lambda v, i=i: max(v, floor_z[i])) if name == "minmax_flat365" and frontier.minmax_floors else \
                (lambda v: v)
            swept += [{"policy": name, "knob": knob, "knob_value": v, **_simulate(demand, params, rules[name](at(v)))}
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
             for (_, knob, value), group in swept_rows.groupby(["policy", "knob", "knob_value"], sort=False)],
            ignore_index=True))
    return ReplayResult(per_series, totals(per_series, n_days), len(reviews), table)


def _rules(i: int, plans: list[WeekPlan], params: ItemParams, floor: float, history: np.ndarray, offset: int,
           replay: ReplaySettings) -> dict[str, Callable[[float | None], Callable[[ReviewState], float]]]:
    """Per policy: its rule at a value of its knob (turnover: a fill-rate target, None for the run's own
    setting; turnover at one level: the level; min/max: z; days of supply: days)."""
    def ours(target):
        return turnover_rule(i, plans, params, floor, None if target is None else (OURS, target))

    def one_level(level):
        return turnover_rule(i, plans, params, floor, (ONE_LEVEL, level))

    def minmax(z):
        return minmax_flat_average(history, params, z, replay.flat_lookback_days, history_offset=offset)

    def supply(days):
        return days_of_supply(history, params, days, replay.flat_lookback_days, history_offset=offset)

    return {OURS: ours, ONE_LEVEL: one_level, "minmax_flat365": minmax, "days_of_supply": supply}


def _each_review(plans: list[WeekPlan], knob: np.ndarray, rule_at: Callable[[float], Callable[[ReviewState], float]]
                 ) -> Callable[[ReviewState], float]:
    """The rule at each review's own knob value (``knob[k]`` for ``plans[k]``): min/max at the tier as of then."""
    made: dict[float, Callable[[ReviewState], float]] = {}
    by_day = {}
    for plan, value in zip(plans, knob.tolist(), strict=True):
        if value not in made:
            made[value] = rule_at(value)
        by_day[plan.day] = made[value]
    return lambda state: by_day[state.day](state)


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
        cost = rows["demand_value"] / rows["demand_units"].where(rows["demand_units"] > 0)
        cost = cost.fillna(rows["avg_on_hand_value"] / rows["avg_on_hand_units"].where(rows["avg_on_hand_units"] > 0))
        served_value = (rows["served_units"] * cost).sum(min_count=1)
        demand_value = (rows["demand_units"] * cost).sum(min_count=1)
        cycles = rows["cycles"].sum()
        out.append({
            "policy": name, "series": len(rows), "demand_units": demand, "served_units": served,
            "fill_rate": served / demand if demand else np.nan,
            "cycle_service_level": 1 - rows["stockout_weeks"].sum() / cycles if cycles else np.nan,
            "stockout_weeks": int(rows["stockout_weeks"].sum()),
            "avg_on_hand_units": rows["avg_on_hand_units"].sum(), "avg_on_hand_value": on_hand_value,
            "turns": served_value * 365.0 / n_days / on_hand_value if on_hand_value else np.nan,
            "expired_units": rows["expired_units"].sum(), "expired_value": rows["expired_value"].sum(min_count=1),
            # the value asked for that was served: an expensive drug starved weighs what it costs
            "demand_value": demand_value, "fill_rate_value": served_value / demand_value if demand_value else np.nan,
        })
    return pd.DataFrame(out)

