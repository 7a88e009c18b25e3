"""Efficient frontiers of the replay: average stock against fill rate, per policy, and the saving at equal fill.

One replay point per policy proves nothing when the fill rates differ (DOMAIN.md, "Efficient frontier"): a
policy that holds less stock and fills less may only sit lower on the same curve. So each policy is swept over
its own service knob (turnover: the target cycle service level of every drug; min/max: its z; days of supply:
its days of cover) and each sweep gives a curve of average on hand (units, value) against fill rate.

The saving at equal fill rate reads both curves at the same fill rate f:

    saving(f) = 1 - turnover_on_hand(f) / baseline_on_hand(f)

on each curve's *efficient envelope*: the least stock any point of the sweep needs to fill at least f
(a point with more stock and no better fill than another is dominated and left out), linear between the
points that remain. It is read at every point of either curve, only where both curves exist
(f between the larger of the two lowest fill rates and the smaller of the two highest): outside it one
of the two would be extrapolated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

OURS = "turnover"
ONE_LEVEL = "turnover_one_level"  # turnover with one service level for every drug: what the allocation saves
OUR_POLICIES = (OURS, ONE_LEVEL)
BASELINE_NAMES = {"minmax_flat365": "min/max", "days_of_supply": "days of supply",
                  ONE_LEVEL: "turnover at one service level for every drug"}

FRONTIER_COLUMNS = ["policy", "knob", "knob_value", "fill_rate", "cycle_service_level", "avg_on_hand_units",
                    "avg_on_hand_value", "units_expired", "value_expired", "fill_rate_value"]
#: The fill rates a saving is read at: of the units asked for, and of their value (an expensive drug starved
#: weighs what it costs: a baseline can meet a unit fill rate by starving the few costly, slow drugs).
FILL_BASES = {"units": "fill_rate", "value": "fill_rate_value"}
SAVINGS_COLUMNS = ["baseline", "point_of", "knob_value", "fill_rate", "turnover_on_hand_units",
                   "baseline_on_hand_units", "saving_units_share", "turnover_on_hand_value", "baseline_on_hand_value",
                   "saving_value_share", "fill_basis"]


@dataclass(frozen=True)
class FrontierSettings:
    """The knob values each policy is replayed at.

    ``fill_rate_targets``: turnover's aggregate fill-rate target per location, each drug's level allocated
    to meet it at the least stock value (``turnover.inventory.allocation``, within the floors), as ``policy.fill_rate_target``
    does in the weekly run. ``service_levels``: turnover with one cycle service level for every drug
    (``turnover_one_level``: what the allocation saves over it; a shortage still raises its drug's level for
    the weeks it lasts). Both are read off each week's one forecast (its service curves): no refit per value.
    ``minmax_z``: the standard normal quantile of min/max's safety stock (min = mu (L + R) + z sigma
    sqrt(L + R)); its max = min + mu R already holds a review's demand, so it fills most demand even at z = 0
    and the grid reaches below it; with ``minmax_floors``, a drug's z is at least its floor's
    (``policy.service_level_floors``: vital 99%), so both curves protect vital drugs alike. ``days_of_supply_days``:
    the days of cover of the par. ``read_at``: the fill rates the printed saving is read at.
    """

    fill_rate_targets: tuple[float, ...] = (0.90, 0.93, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995, 0.998)
    service_levels: tuple[float, ...] = (0.80, 0.85, 0.90, 0.95, 0.97, 0.98, 0.99, 0.995)
    minmax_z: tuple[float, ...] = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.645, 2.33, 3.0)
    days_of_supply_days: tuple[float, ...] = (7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 60.0)
    read_at: tuple[float, ...] = (0.97, 0.98, 0.99)
    minmax_floors: bool = True

    def knobs(self) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Per policy: the knob's name and its values (the baselines in the order the headline reads them)."""
        return {OURS: ("fill_rate_target", tuple(self.fill_rate_targets)),
                "minmax_flat365": ("z", tuple(self.minmax_z)),
                "days_of_supply": ("days", tuple(self.days_of_supply_days)),
                ONE_LEVEL: ("service_level", tuple(self.service_levels))}


def frontier_table(totals_by_knob: pd.DataFrame) -> pd.DataFrame:
    """The frontier rows (``FRONTIER_COLUMNS``), by policy and knob value, from ``replay.totals`` rows that
    carry ``knob`` and ``knob_value``."""
    renamed = totals_by_knob.rename(columns={"expired_units": "units_expired", "expired_value": "value_expired"})
    order = {name: k for k, name in enumerate(FrontierSettings().knobs())}
    renamed = renamed.assign(_order=renamed["policy"].map(order).fillna(len(order)))
    return renamed.sort_values(["_order", "knob_value"], kind="stable", ignore_index=True).reindex(columns=FRONTIER_COLUMNS)


def envelope(fill_rate, on_hand) -> tuple[np.ndarray, np.ndarray]:
    """The efficient points of a curve, by rising fill rate: for each, no other point fills at least as much
    with less stock. Points with a missing fill rate or stock are left out."""
    f, y = np.asarray(fill_rate, dtype=float), np.asarray(on_hand, dtype=float)
    ok = np.isfinite(f) & np.isfinite(y)
    f, y = f[ok], y[ok]
    order = np.lexsort((y, f))  # by fill rate, then least stock
    f, y = f[order], y[order]
    least_from_here = np.minimum.accumulate(y[::-1])[::-1]  # least stock among points filling at least f[i]
    keep = y <= least_from_here  # not dominated; what is kept rises with the fill rate
    f, y = f[keep], y[keep]
    _, first = np.unique(f, return_index=True)  # one point per fill rate: the least stock
    return f[first], y[first]


def on_hand_at(fill_rate, on_hand, at) -> np.ndarray:
    """The stock the efficient envelope of (``fill_rate``, ``on_hand``) needs at each fill rate of ``at``,
    linear between its points; NaN outside the curve's fill-rate range.

    Below the envelope's first point but within the sweep (the lowest points were dominated), the least stock
    that fills at least that much is the first efficient point's: the range read is the sweep's, as in
    ``common_range``."""
    f, y = envelope(fill_rate, on_hand)
    at = np.asarray(at, dtype=float)
    if not len(f):
        return np.full(at.shape, np.nan)
    swept = np.asarray(fill_rate, dtype=float)[np.isfinite(np.asarray(on_hand, dtype=float))]
    inside = (at >= np.nanmin(swept)) & (at <= f[-1])
    return np.where(inside, np.interp(at, f, y), np.nan)  # interp holds y[0] below f[0]


def common_range(a, b) -> tuple[float, float] | None:
    """The fill rates both curves reach: (low, high), or None when they do not overlap."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return None
    low, high = max(a.min(), b.min()), min(a.max(), b.max())
    return (float(low), float(high)) if low <= high else None


def savings(frontier: pd.DataFrame) -> pd.DataFrame:
    """Turnover's saving in stock against each baseline at equal fill rate (``SAVINGS_COLUMNS``), the fill rate
    of units and of value (``fill_basis``; value only where the frontier has costs).

    One row per point of either curve (``point_of``: whose sweep the fill rate comes from) within the fill
    rates both curves reach; shares are ``1 - turnover / baseline`` (positive: turnover holds less). Value
    columns are empty when the frontier has no stock value (no unit costs).
    """
    ours = frontier[frontier["policy"] == OURS]
    rows = []
    for basis, fill in fill_bases(frontier).items():
        for baseline in [p for p in frontier["policy"].drop_duplicates() if p != OURS]:
            theirs = frontier[frontier["policy"] == baseline]
            span = common_range(ours[fill], theirs[fill])
            if span is None:
                continue
            for owner, points in ((OURS, ours), (baseline, theirs)):
                inside = points[points[fill].between(*span)]
                for point in inside.itertuples(index=False):
                    at = getattr(point, fill)
                    rows.append({"baseline": baseline, "point_of": owner, "knob_value": point.knob_value,
                                 "fill_rate": at, **_compare(ours, theirs, at, "units", fill),
                                 **_compare(ours, theirs, at, "value", fill), "fill_basis": basis})
    out = pd.DataFrame(rows, columns=SAVINGS_COLUMNS)
    return out.sort_values(["fill_basis", "baseline", "fill_rate"], kind="stable", ignore_index=True)


def fill_bases(frontier: pd.DataFrame) -> dict[str, str]:
    """The fill-rate bases the frontier can be read on: units, and value where it has costs."""
    with_value = "fill_rate_value" in frontier and frontier["fill_rate_value"].notna().any()
    return {b: c for b, c in FILL_BASES.items() if b == "units" or with_value}


def _read(ours: pd.DataFrame, theirs: pd.DataFrame, fill_rates, unit: str, fill: str) -> tuple[np.ndarray, ...]:
    """Both envelopes' stock at ``fill_rates`` (of ``fill``) and turnover's saving share (NaN where the
    baseline holds nothing or a curve does not reach)."""
    column = f"avg_on_hand_{unit}"
    mine = on_hand_at(ours[fill], ours[column], fill_rates)
    other = on_hand_at(theirs[fill], theirs[column], fill_rates)
    with np.errstate(divide="ignore", invalid="ignore"):
        return mine, other, np.where(other > 0, 1 - mine / other, np.nan)


def _compare(ours: pd.DataFrame, theirs: pd.DataFrame, fill_rate: float, unit: str, fill: str = "fill_rate") -> dict:
    mine, other, share = (float(v[0]) for v in _read(ours, theirs, [fill_rate], unit, fill))
    return {f"turnover_on_hand_{unit}": mine, f"baseline_on_hand_{unit}": other, f"saving_{unit}_share": share}


def saving_at(frontier: pd.DataFrame, baseline: str, fill_rates, unit: str, fill: str = "fill_rate") -> np.ndarray:
    """Turnover's saving share against ``baseline`` at each of ``fill_rates`` (of ``fill``: units or value; NaN
    outside the common range)."""
    return _read(frontier[frontier["policy"] == OURS], frontier[frontier["policy"] == baseline], fill_rates, unit,
                 fill)[2]


def has_value(frontier: pd.DataFrame) -> bool:
    """Whether the frontier's stock has a value (some series had a unit cost)."""
    return bool(frontier["avg_on_hand_value"].notna().any())


def headline(frontier: pd.DataFrame, read_at=FrontierSettings().read_at) -> list[str]:
    """The sentences that lead the printed table, one per baseline and fill-rate basis: "at the same fill rate,
    turnover holds X% less stock value than min/max", read at each of ``read_at`` within the range both curves
    reach; in units when there are no costs; then the same at the same fill rate of value."""
    unit = "value" if has_value(frontier) else "units"
    words = "stock value" if unit == "value" else "stock (units; no unit costs)"
    lines = []
    for basis, fill in fill_bases(frontier).items():
        same = "at the same fill rate" if basis == "units" else "at the same fill rate of value (units weighed by cost)"
        for baseline in [p for p in frontier["policy"].drop_duplicates() if p != OURS]:
            name = BASELINE_NAMES.get(baseline, baseline)
            shares = saving_at(frontier, baseline, read_at, unit, fill)
            read = [(f, s) for f, s in zip(read_at, shares, strict=True) if np.isfinite(s)]
            span = common_range(frontier.loc[frontier["policy"] == OURS, fill],
                                frontier.loc[frontier["policy"] == baseline, fill])
            if not read:
                where = "the curves do not overlap" if span is None else \
                    f"the curves overlap only at fill rates {span[0]:.1%} to {span[1]:.1%}"
                lines.append(f"{same}, turnover vs {name}: not read at {_rates(read_at)} ({where})")
                continue
            rest = "".join(f"; {_more_or_less(s)} at {_rate(f)}" for f, s in read[1:])
            lines.append(f"{same}, turnover holds {_more_or_less(read[0][1])} {words} than {name} "
                         f"(at {_rate(read[0][0])} fill{rest})")
    return lines


def _more_or_less(share: float) -> str:
    return f"{abs(share):.0%} {'less' if share >= 0 else 'more'}"


def _rate(fill_rate: float) -> str:
    """97% or 99.5%: a decimal only where the rate has one (in tenths of a point)."""
    return f"{fill_rate:.0%}" if round(fill_rate * 1000) % 10 == 0 else f"{fill_rate:.1%}"


def _rates(fill_rates) -> str:
    return ", ".join(_rate(f) for f in fill_rates)
