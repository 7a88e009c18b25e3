"""Expiry: project each lot's use first-expiry-first-out, and cap orders at what can be used in time.

The expected use of a drug is a curve over the days after the as-of date: the forecast's mean per
period, spread evenly over each period's days (as the par level reads it), and beyond the forecast
horizon the average daily use of the last year (a flat tail: shelf lives run to years, forecasts to
weeks). ``D(t)`` is the expected use over the first ``t`` days.

FEFO projection (the OpenBoxes idea, with a seasonal forecast instead of a flat average): lots are
used in order of expiry, each only until it expires. Lot ``i`` (sorted by expiry ``e_i``) is used

    used_i = clip(D(e_i) - sum(used_j for j < i), 0, units_i)

and the rest, ``units_i - used_i``, is projected waste: return it or transfer it while it is still
in date. A lot expiring on day E is usable through E - 1; a lot with no expiry never expires.

Expiry cap: a new order arrives after the lead time L and expires ``shelf_life_days`` after that.
It can serve only demand in ``[L, L + shelf)`` that stock already held (and on order) does not, so

    cap = max(0, D(L + shelf) - max(used by existing stock, D(L)))

and the order is cut to whole packs within the cap. Orders never exceed the expected use before
expiry; the cap reads the mean, so it does not add waste on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from turnover import calendar


@dataclass(frozen=True)
class UsageCurve:
    """Expected use over the days after ``day_after - 1`` (the as-of date)."""

    starts: list[date]  # forecast period starts
    period: str
    means: np.ndarray  # forecast mean per period, units
    day_after: date
    tail_units_per_day: float  # beyond the last forecast period

    @property
    def covered_days(self) -> int:
        end = calendar.add_periods(self.starts[-1], 1, self.period) if self.starts else self.day_after  # type: ignore[arg-type]
        return max((end - self.day_after).days, 0)

    def cumulative(self, days: float) -> float:
        """Expected units used in the first ``days`` days (``inf`` days: ``inf`` unless no use at all)."""
        if days <= 0:
            return 0.0
        if math.isinf(days):
            return math.inf if self.tail_units_per_day > 0 or self.means.sum() > 0 else float(self.means.sum())
        whole = int(math.floor(days))
        inside = float(self.means @ calendar.window_weights(self.starts, self.period, self.day_after, whole)) \
            if self.starts else 0.0  # type: ignore[arg-type]
        return inside + self.tail_units_per_day * max(days - self.covered_days, 0)

    def days_of_cover(self, units: float, limit_days: int = 3 * 365) -> float:
        """Days until the expected use reaches ``units`` (``inf`` beyond ``limit_days``)."""
        if units <= 0:
            return 0.0
        if self.cumulative(limit_days) < units:
            return math.inf
        lo, hi = 0, limit_days
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.cumulative(mid) < units else (lo, mid)
        return float(hi)


def days_until(expiry: date | None, day_after: date) -> float:
    """Days a lot expiring on ``expiry`` is usable from ``day_after`` on (``inf``: no expiry)."""
    if expiry is None or (isinstance(expiry, float) and math.isnan(expiry)):
        return math.inf
    return float(max((expiry - day_after).days, 0))


def project_fefo(units: np.ndarray, usable_days: np.ndarray, curve: UsageCurve) -> np.ndarray:
    """Units of each lot used before it expires, lots used first-expiry-first-out.

    Args:
        units: units per lot.
        usable_days: days each lot can still be used (``inf``: never expires).
        curve: the expected use.
    Returns:
        used units per lot, in the input order.
    """
    order = np.argsort(usable_days, kind="stable")
    used = np.zeros(len(units))
    taken = 0.0
    for i in order:
        reachable = curve.cumulative(usable_days[i]) - taken
        used[i] = float(np.clip(reachable, 0.0, units[i]))
        taken += used[i]
    return used


def expiry_cap_units(curve: UsageCurve, used_by_stock_units: float, lead_time_days: int,
                     shelf_life_days: float) -> float:
    """Most units a new order can be expected to use before it expires (see module docstring)."""
    if not np.isfinite(shelf_life_days):
        return math.inf
    reach = curve.cumulative(lead_time_days + shelf_life_days)
    return max(0.0, reach - max(used_by_stock_units, curve.cumulative(lead_time_days)))


def receipt_expiry(as_of: date, lead_time_days: int, shelf_life_days: float) -> date | None:
    """Expiry date of an order placed on the day after ``as_of`` (``None``: no shelf life known)."""
    if not np.isfinite(shelf_life_days):
        return None
    return as_of + timedelta(days=1 + lead_time_days + int(shelf_life_days))
