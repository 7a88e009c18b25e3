"""A seeded synthetic pharmacy chain at benchmark scale: ``L`` locations x ``D`` drugs, one row per fill.

The demo's realism (:mod:`turnover.demo.synthetic`) at chain scale, drawn with numpy one location at a time
(a ``drugs x days`` array per location, never a Python loop over series or days):

- a catalog of ``D`` drugs made from the demo's templates (quantities, pack size, cost, lead time, shelf
  life, criticality, generic and ATC code), each with its own 11-digit NDC (a generic maker's labeler
  code) and name. Fill rates are log-normal (``RATE_MEDIAN`` fills a day at a store of size 1, sigma
  ``RATE_SIGMA``), heavy-tailed as a chain's are. At the defaults (20 x 3,000, 3 years: 15.2 million
  rows) 53% of the series are intermittent at weekly grain (used in under half of the last 26 weeks;
  75% have ADI >= 1.32), and about 300 drugs are filled at least every other day at an average store
  (about 100 at least daily). A drug's template is drawn among those of its pattern whose demo rate is
  nearest its own: slow movers get the emergency and specialty templates, fast movers the chronic ones;
- patterns (``PATTERN_SHARES``): steady; flu-driven, winter (strong, mild) and spring (strong, mild)
  seasonal drugs, as common items a few times faster than the median; new items started 1-11 months
  before the end and ramping up over 8 weeks; discontinued items stopped 4 months to 2 years before;
- locations of size 0.4-1.6, every series with its own +-30% level; the demo's weekday pattern, a
  third of the locations closed on Sundays, holiday closures everywhere and a 1-3 day local closure
  at a quarter of them; returns (1.5% of fills come back 5-12 days later as negative quantities);
  one stockout per ``SERIES_PER_STOCKOUT`` series, among the drugs filled at least every other day;
- stock on hand by lot with expiry dates (one or two lots a series, a few lots already expired).

Every series has at least one fill before the end, so there are exactly ``L x D`` series. The days
generated run ``years`` back from ``end`` and ``week_days`` on after it: the history and the next
week's files (:mod:`turnover.demo.chain_files`) come from one draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover.demo.synthetic import (
    DRUGS,
    EXPIRY_SHELF_SHARE,
    FIRST_LOT_SHARE,
    IN_TRANSIT_SHARE,
    IN_TRANSIT_WEEKS,
    SECOND_LOT_LATER,
    STOCK_WEEKS,
    WEEKDAY_FACTOR,
    flu_signal,
    holidays,
    seasonality,
    spring_signal,
)

GENERATOR_VERSION = 1  # bump when the draws change: cached chains are regenerated
PATTERNS = ("steady", "flu", "winter", "winter_mild", "spring", "spring_mild", "new", "discontinued")
PATTERN_SHARES = (0.70, 0.01, 0.06, 0.03, 0.04, 0.02, 0.07, 0.07)
SEASONAL_RATE_FACTOR = 2.0  # seasonal drugs are common items: their median rate is this times the others'
RATE_MEDIAN, RATE_SIGMA = 0.115, 1.15  # fills a day at a store of size 1 (log-normal)
RATE_BOUNDS = (0.003, 40.0)
SERIES_PER_STOCKOUT = 500
RETURN_SHARE, RETURN_DAYS = 0.015, (5, 13)
RAMP_DAYS = 56  # a new item's rate rises linearly over its first 8 weeks
MAKERS = {  # generic manufacturers and their NDC labeler codes
    "Teva": 93, "Mylan": 378, "Sandoz": 781, "Aurobindo": 65862, "Lupin": 68180, "Zydus": 68382, "Amneal": 65162,
    "Apotex": 60505, "Sun Pharma": 62756, "Cipla": 69097, "Dr. Reddy's": 55111, "Hikma": 54, "Camber": 31722,
    "Accord": 16729, "Ascend": 67877,
}


@dataclass(frozen=True)
class ChainSpec:
    """What to generate: ``locations`` x ``drugs`` series over ``years`` ending on ``end``, then ``week_days``."""

    locations: int = 20
    drugs: int = 3000
    years: float = 3.0
    end: date = date(2026, 11, 15)
    seed: int = 11
    week_days: int = 7

    @property
    def history_days(self) -> int:
        return int(round(self.years * 365.25))

    @property
    def first_day(self) -> date:
        return self.end - timedelta(days=self.history_days - 1)

    @property
    def week_end(self) -> date:
        return self.end + timedelta(days=self.week_days)


@dataclass(frozen=True)
class ChainPlan:
    """Everything but the fills. Day indices count from ``spec.first_day``; ``days`` runs through the week
    after ``end``."""

    spec: ChainSpec
    drugs: pd.DataFrame  # the catalog columns, then pattern, fills_per_day, active window, quantities
    locations: pd.DataFrame  # location_id, size, closed_sundays
    days: pd.DatetimeIndex
    drug_shape: np.ndarray  # drugs x days: season x lifecycle multiplier of the rate
    open_factor: np.ndarray  # locations x days: weekday factor, 0 when closed
    series_level: np.ndarray  # locations x drugs: the series' level around its drug's rate
    stockouts: pd.DataFrame  # location_id, drug_id, start, end (inclusive), location, drug, start_day, end_day
    closures: pd.DataFrame  # date, location_id (None: every location)
    flu: pd.Series  # daily flu activity that drove the flu and winter drugs


@dataclass(frozen=True)
class Fills:
    """One location's fills in time order (returns included, negative): day index, minute, drug index, units."""

    day: np.ndarray
    minute: np.ndarray
    drug: np.ndarray
    quantity: np.ndarray


def stream(spec: ChainSpec, key: int) -> np.random.Generator:
    """The generator of one part of the chain: independent of the others and of the order they are drawn."""
    return np.random.default_rng([spec.seed, key])


def plan_chain(spec: ChainSpec) -> ChainPlan:
    """The catalog, locations, calendar, signals, stockouts and closures of ``spec``."""
    days = pd.date_range(spec.first_day, spec.week_end, freq="D")
    rng = stream(spec, 1)
    flu = flu_signal(days, rng)
    drugs = drug_catalog(spec, stream(spec, 0))
    shape = _season_shapes(flu, spring_signal(days, rng))[drugs["pattern_code"].to_numpy()] * _lifecycles(drugs, len(days))
    rng = stream(spec, 2)
    locations = pd.DataFrame({"location_id": [f"STORE-{i + 1:03d}" for i in range(spec.locations)],
                              "size": rng.uniform(0.4, 1.6, spec.locations),
                              "closed_sundays": rng.random(spec.locations) < 1 / 3})
    closed = np.isin(days.date, list(holidays(range(days[0].year, days[-1].year + 1))))
    local = _local_closures(spec, rng)
    open_factor = np.tile(WEEKDAY_FACTOR[days.weekday] * ~closed, (spec.locations, 1))
    open_factor[np.ix_(locations["closed_sundays"].to_numpy(), days.weekday == 6)] = 0.0
    open_factor[local[:, 0], local[:, 1]] = 0.0
    closures = pd.concat([
        pd.DataFrame({"date": days.date[closed], "location_id": None}),
        pd.DataFrame({"date": days.date[local[:, 1]], "location_id": locations["location_id"].to_numpy()[local[:, 0]]}),
    ], ignore_index=True).sort_values(["date", "location_id"], na_position="first", ignore_index=True)
    level = rng.lognormal(0.0, 0.3, (spec.locations, spec.drugs))
    stockouts = _stockouts(spec, drugs, locations, rng)
    return ChainPlan(spec, drugs, locations, days, shape, open_factor, level, stockouts, closures,
                     pd.Series(flu, index=days, name="flu"))


def drug_catalog(spec: ChainSpec, rng: np.random.Generator) -> pd.DataFrame:
    """``spec.drugs`` drugs: catalog columns plus how each is dispensed (pattern, rate, quantities)."""
    n = spec.drugs
    counts = np.floor(np.array(PATTERN_SHARES) * n).astype(int)
    if n >= len(PATTERNS):
        counts = np.maximum(counts, 1)  # every pattern, even in a tiny chain
    counts[0] += n - counts.sum()
    pattern = rng.permutation(np.repeat(np.arange(len(PATTERNS)), counts))
    names = np.array(PATTERNS)[pattern]
    seasonal = ~np.isin(names, ["steady", "new", "discontinued"])
    rate = np.clip(rng.lognormal(np.log(RATE_MEDIAN), RATE_SIGMA, n) * np.where(seasonal, SEASONAL_RATE_FACTOR, 1.0),
                   *RATE_BOUNDS)
    template = _templates(names, rate, rng)
    specs = [DRUGS[t] for t in template]
    maker = rng.integers(0, len(MAKERS), n)
    labeler = np.array(list(MAKERS.values()))[maker]
    product = np.empty(n, dtype=np.int64)
    for m in np.unique(maker):  # product codes unique within a labeler: the NDCs are unique
        product[maker == m] = rng.choice(10_000, int((maker == m).sum()), replace=False)
    ndc = labeler * 1_000_000 + product * 100 + rng.integers(0, 100, n)
    quantities = [s.quantities + s.quantities[-1:] for s in specs]
    first_share = [s.quantity_probs[0] / sum(s.quantity_probs) if s.quantity_probs else 1 / len(s.quantities)
                   for s in specs]
    start, stop = _active_windows(names, spec, rng)
    return pd.DataFrame({
        "drug_id": [f"{x:011d}" for x in ndc],
        "drug_name": [f"{s.name}, {m}" for s, m in zip(specs, np.array(list(MAKERS))[maker], strict=True)],
        "pack_size_units": [s.pack_size_units for s in specs],
        "unit_cost": np.maximum(np.round([s.unit_cost for s in specs] * rng.lognormal(0, 0.25, n), 2), 0.01),
        "lead_time_days": [s.lead_time_days for s in specs] + rng.choice([0, 0, 0, 1, 2, 5], n),
        "shelf_life_days": [s.shelf_life_days for s in specs],
        "criticality": [s.criticality for s in specs],
        "generic_name": [s.generic for s in specs],
        "atc_code": [s.atc for s in specs],
        "pattern": names, "pattern_code": pattern, "fills_per_day": rate, "first_active_day": start,
        "last_active_day": stop,
        "quantity_1": [q[0] for q in quantities], "quantity_2": [q[1] for q in quantities],
        "quantity_1_share": first_share,
    })


def _templates(patterns: np.ndarray, rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into ``DRUGS`` per drug: a template of its pattern family, nearer its rate more likely."""
    family = {p: p for p in PATTERNS} | {"steady": "steady", "slow": "steady", "new": "steady", "discontinued": "steady"}
    template_family = np.array([family[d.pattern] for d in DRUGS])
    template_rate = np.log([d.fills_per_day for d in DRUGS])
    weight = np.exp(-0.5 * (np.log(rate)[:, None] - template_rate[None, :]) ** 2)
    weight *= template_family[None, :] == np.array([family[p] for p in patterns])[:, None]
    cumulative = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((cumulative < rng.random(len(rate))[:, None]).sum(axis=1), len(DRUGS) - 1)


def _active_windows(patterns: np.ndarray, spec: ChainSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """First and last day a drug can be filled: new items start 30-330 days before the end (within the
    history), discontinued ones stop 120-730 days before it (30-70% of a short history)."""
    n, history_days, last = len(patterns), spec.history_days, spec.history_days - 1
    start, stop = np.zeros(n, dtype=np.int64), np.full(n, history_days + spec.week_days - 1, dtype=np.int64)
    new, gone = patterns == "new", patterns == "discontinued"
    start[new] = last - rng.integers(min(30, last // 3), max(min(330, last), min(30, last // 3) + 1), new.sum())
    low, high = min(120, int(0.3 * history_days)), min(730, int(0.7 * history_days))
    stop[gone] = last - rng.integers(low, max(high, low + 1), gone.sum())
    return start, stop


def _season_shapes(flu: np.ndarray, spring: np.ndarray) -> np.ndarray:
    """patterns x days: the demo's seasonal multipliers (1 for the non-seasonal patterns)."""
    return np.vstack([seasonality(pattern, flu, spring) for pattern in PATTERNS])


def _lifecycles(drugs: pd.DataFrame, n_days: int) -> np.ndarray:
    """drugs x days: 0 outside a drug's active window, ramping up over ``RAMP_DAYS`` from a new item's start."""
    day = np.arange(n_days)[None, :]
    start = drugs["first_active_day"].to_numpy()[:, None]
    ramp = np.where(drugs["pattern"].to_numpy()[:, None] == "new", np.clip((day - start + 1) / RAMP_DAYS, 0, 1), 1.0)
    return ramp * (day >= start) * (day <= drugs["last_active_day"].to_numpy()[:, None])


def _local_closures(spec: ChainSpec, rng: np.random.Generator) -> np.ndarray:
    """(location, day) rows: a quarter of the locations closed 1-3 days in a row once (storm, renovation)."""
    closing = np.flatnonzero(rng.random(spec.locations) < 0.25)
    first = rng.integers(0, spec.history_days - 3, len(closing))
    length = rng.integers(1, 4, len(closing))
    rows = [(loc, day) for loc, d, k in zip(closing, first, length, strict=True) for day in range(d, d + k)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def _stockouts(spec: ChainSpec, drugs: pd.DataFrame, locations: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One 1-4 week stockout per ``SERIES_PER_STOCKOUT`` series (at least one), in the last 400 days, at drugs
    filled at least every other day (the fastest, if none is)."""
    n = max(1, round(spec.locations * spec.drugs / SERIES_PER_STOCKOUT))
    steady = drugs["pattern"].to_numpy() == "steady"
    eligible = np.flatnonzero(steady & (drugs["fills_per_day"].to_numpy() >= 0.5))
    if len(eligible) == 0:
        eligible = np.argsort(-drugs["fills_per_day"].to_numpy() * steady)[:1]
    pairs = rng.choice(spec.locations * len(eligible), min(n, spec.locations * len(eligible)), replace=False)
    location, drug = pairs // len(eligible), eligible[pairs % len(eligible)]
    length = rng.integers(7, 29, len(pairs))
    last = spec.history_days - 1
    start = last - rng.integers(length + 7, np.maximum(min(400, last), length + 8))
    first_day = np.datetime64(spec.first_day)
    return pd.DataFrame({
        "location_id": locations["location_id"].to_numpy()[location], "drug_id": drugs["drug_id"].to_numpy()[drug],
        "start": (first_day + start).astype(object), "end": (first_day + start + length - 1).astype(object),
        "location": location, "drug": drug, "start_day": start, "end_day": start + length - 1,
    }).sort_values(["location_id", "drug_id"], ignore_index=True)


def location_fills(plan: ChainPlan, location: int) -> Fills:
    """Every fill at one location over the plan's days, in time order, returns included."""
    spec, rng = plan.spec, stream(plan.spec, 100 + location)
    scale = plan.drugs["fills_per_day"].to_numpy() * plan.locations["size"].iat[location] * plan.series_level[location]
    rate = plan.drug_shape * scale[:, None] * plan.open_factor[location][None, :]
    for row in plan.stockouts[plan.stockouts["location"] == location].itertuples():
        rate[row.drug, row.start_day : row.end_day + 1] = 0.0
    counts = rng.poisson(rate)
    del rate
    # At least one fill before the end, on a day open there: every catalog drug is a series at every location.
    empty = np.flatnonzero(counts[:, : spec.history_days].sum(axis=1) == 0)
    open_days = np.flatnonzero(plan.open_factor[location, : spec.history_days] > 0)
    low = np.searchsorted(open_days, plan.drugs["first_active_day"].to_numpy()[empty])
    high = np.searchsorted(open_days, plan.drugs["last_active_day"].to_numpy()[empty], side="right")
    counts[empty, open_days[np.minimum(rng.integers(low, np.maximum(high, low + 1)), len(open_days) - 1)]] += 1
    day, drug = np.nonzero(counts.T)  # day-major
    reps = counts.T[day, drug]
    day, drug = np.repeat(day, reps), np.repeat(drug, reps)
    minute = rng.integers(9 * 60, 19 * 60, len(day))
    first_share = plan.drugs["quantity_1_share"].to_numpy()[drug]
    quantity = np.where(rng.random(len(day)) < first_share, plan.drugs["quantity_1"].to_numpy()[drug],
                        plan.drugs["quantity_2"].to_numpy()[drug]).astype(float)
    back = np.flatnonzero(rng.random(len(day)) < RETURN_SHARE)
    back_day = day[back] + rng.integers(*RETURN_DAYS, len(back))
    kept = back[back_day < len(plan.days)]
    day = np.concatenate([day, back_day[back_day < len(plan.days)]])
    minute, drug = np.concatenate([minute, minute[kept]]), np.concatenate([drug, drug[kept]])
    quantity = np.concatenate([quantity, -quantity[kept]])
    order = np.argsort(day * 1440 + minute, kind="stable")
    return Fills(day[order].astype(np.int32), minute[order].astype(np.int16), drug[order].astype(np.int32),
                 quantity[order])


def recent_weekly_units(fills: Fills, n_drugs: int, last_day: int, weeks: int = 8) -> np.ndarray:
    """Net units a week per drug over the ``weeks`` weeks through day ``last_day`` (never below 0)."""
    window = (fills.day > last_day - 7 * weeks) & (fills.day <= last_day)
    used = np.bincount(fills.drug[window], weights=fills.quantity[window], minlength=n_drugs)
    return np.clip(used / weeks, 0, None)


def stock_by_lot(plan: ChainPlan, weekly_units: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Stock counted by lot, as ``synthetic._lots`` but for every series at once.

    Each series holds 0.3-1.6 weeks of its recent use (``weekly_units``, locations x drugs; drawn with
    ``rng``), in two lots half the time; 15% have an order in transit (half a week). The lots themselves
    (numbers, expiry in 35-60% of the drug's shelf life after ``end``, the second lot 30% later, and a lot
    that expired in the month before ``end`` at 0.5% of the series) are the same in every count.
    """
    n_loc, n_drug = weekly_units.shape
    location, drug = np.repeat(np.arange(n_loc), n_drug), np.tile(np.arange(n_drug), n_loc)
    weekly, n = weekly_units.ravel(), n_loc * n_drug
    units = np.round(weekly * rng.uniform(*STOCK_WEEKS, n))
    on_order = np.where(rng.random(n) < IN_TRANSIT_SHARE, np.round(weekly * IN_TRANSIT_WEEKS), 0.0)
    first = np.where((units >= 2) & (rng.random(n) < 0.5), np.round(units * rng.uniform(*FIRST_LOT_SHARE, n)), units)
    second = np.flatnonzero(first < units)
    lots = stream(plan.spec, 5)  # lot identities: the same whatever the count
    number = lots.integers(100_000, 1_000_000, (3, n)).astype(str)
    shelf = plan.drugs["shelf_life_days"].to_numpy()[drug]
    expiry_days = np.stack([shelf * lots.uniform(*EXPIRY_SHELF_SHARE, n),
                            shelf * (lots.uniform(*EXPIRY_SHELF_SHARE, n) + SECOND_LOT_LATER),
                            -lots.integers(1, 31, n)]).astype(np.int64)
    expired = np.flatnonzero(lots.random(n) < 0.005)
    pack = plan.drugs["pack_size_units"].to_numpy()[drug[expired]]
    rows = np.concatenate([np.arange(n), second, expired])
    which = np.repeat([0, 1, 2], [n, len(second), len(expired)])
    prefix = plan.drugs["generic_name"].str[:2].str.upper().to_numpy()[drug[rows]]
    frame = pd.DataFrame({
        "location_id": plan.locations["location_id"].to_numpy()[location[rows]],
        "drug_id": plan.drugs["drug_id"].to_numpy()[drug[rows]],
        "lot": pd.Series(prefix, dtype=object) + number[which, rows] + np.array(["A", "B", "X"])[which],
        "expiry_date": (np.datetime64(plan.spec.end) + expiry_days[which, rows]).astype(object),
        "units": np.concatenate([first, units[second] - first[second], np.ceil(pack * (1 + np.arange(len(expired)) % 3) / 3)]),
        "on_order_units": np.concatenate([on_order, np.zeros(len(second) + len(expired))]),
    })
    return frame.sort_values(["location_id", "drug_id", "lot"], ignore_index=True)  # a lot of 0 units: out of stock
