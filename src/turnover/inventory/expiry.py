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

``UsageCurve`` is one series' curve; ``UsageCurves`` holds a whole run's in arrays (one row per series)
and computes exactly what each ``UsageCurve`` would, the same floating-point operations in the same
order, for all series at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import pandas as pd

from turnover import calendar


@dataclass(frozen=True)
class UsageCurve:
    """Expected use over the days after ``day_after - 1`` (the as-of date)."""

    starts: list[date]  # forecast period starts
    period: str
    means: np.ndarray  # forecast mean per period, units
    day_after: date
    tail_units_per_day: float  # beyond the last forecast period

    @cached_property
    def _cumulative_days(self) -> np.ndarray:
        """Expected use through each whole day inside the forecast: ``[0, D(1), D(2), ...]``."""
        if not self.starts:
            return np.zeros(1)
        return _cumulative_days(self.starts, self.period, self.means[None, :], self.day_after)[0]

    @cached_property
    def table(self) -> UsageCurves:
        """This curve as a one-row :class:`UsageCurves` (row 0): the arithmetic is written once, over rows."""
        return UsageCurves.from_curves(pd.MultiIndex.from_tuples([("", "")]), [self])

    @property
    def covered_days(self) -> int:
        return len(self._cumulative_days) - 1

    def cumulative(self, days: float) -> float:
        """Expected units used in the first ``days`` days (``inf`` days: ``inf`` unless no use at all)."""
        return float(self.table.cumulative(ROW_0, [days])[0])

    def days_of_cover(self, units: float, limit_days: int = 3 * 365) -> float:
        """Days until the expected use reaches ``units`` (``inf`` beyond ``limit_days``)."""
        return float(self.table.days_of_cover(ROW_0, [units], limit_days)[0])


ROW_0 = np.zeros(1, dtype=np.int64)


@dataclass(frozen=True)
class UsageCurves:
    """The ``UsageCurve`` of many series in arrays: row ``i`` is the series ``keys[i]``.

    ``cumulative_days[i, :covered_days[i] + 1]`` is series ``i``'s ``[0, D(1), D(2), ...]`` (padded beyond).
    """

    keys: pd.MultiIndex  # (location_id, drug_id)
    cumulative_days: np.ndarray
    covered_days: np.ndarray
    tail_units_per_day: np.ndarray
    means_sum: np.ndarray  # each series' forecast means summed (the use of a series with no tail)

    @classmethod
    def from_curves(cls, keys: pd.MultiIndex, curves: list[UsageCurve]) -> UsageCurves:
        """The arrays of the curves of ``keys`` (``curves[i]`` is ``keys[i]``'s)."""
        tables = [c._cumulative_days for c in curves]
        covered = np.array([len(t) - 1 for t in tables], dtype=np.int64)
        cumulative = np.zeros((len(curves), int(covered.max(initial=0)) + 1))
        for i, table in enumerate(tables):
            cumulative[i, : len(table)] = table
        return cls(keys, cumulative, covered, np.array([c.tail_units_per_day for c in curves], dtype=float),
                   np.array([float(c.means.sum()) for c in curves]))

    def rows(self, location_id, drug_id) -> np.ndarray:
        """Row of each (location, drug), -1 where it has no curve."""
        return self.keys.get_indexer(pd.MultiIndex.from_arrays([np.asarray(location_id), np.asarray(drug_id)]))

    def cumulative(self, rows: np.ndarray, days) -> np.ndarray:
        """``UsageCurve.cumulative(days)`` of each of ``rows`` (``days``: one per row)."""
        days = np.broadcast_to(np.asarray(days, dtype=float), np.shape(rows))
        out = np.zeros(len(rows))
        positive = days > 0
        endless = positive & np.isinf(days)
        finite = positive & ~endless
        r, d = rows[finite], days[finite]
        covered = self.covered_days[r]
        inside = self.cumulative_days[r, np.minimum(np.floor(d), covered).astype(np.int64)]
        out[finite] = inside + self.tail_units_per_day[r] * np.maximum(d - covered, 0)
        r = rows[endless]
        total = self.means_sum[r]
        out[endless] = np.where((self.tail_units_per_day[r] > 0) | (total > 0), math.inf, total)
        return out

    def days_of_cover(self, rows: np.ndarray, units, limit_days: int = 3 * 365) -> np.ndarray:
        """``UsageCurve.days_of_cover(units)`` of each of ``rows``, by the same bisection, run for all at once
        (``inf`` for a row of -1: no curve)."""
        units = np.asarray(units, dtype=float)
        out = np.full(len(rows), math.inf)
        known = rows >= 0
        out[known & (units <= 0)] = 0.0
        searching = known & ~(units <= 0)
        searching[searching] = ~(self.cumulative(rows[searching], np.full(searching.sum(), limit_days))
                                 < units[searching])
        lo, hi = np.zeros(len(rows), dtype=np.int64), np.full(len(rows), limit_days, dtype=np.int64)
        active = searching & (hi - lo > 1)
        while active.any():
            mid = (lo + hi) // 2
            short = np.zeros(len(rows), dtype=bool)
            short[active] = self.cumulative(rows[active], mid[active]) < units[active]
            lo = np.where(active & short, mid, lo)
            hi = np.where(active & ~short, mid, hi)
            active = searching & (hi - lo > 1)
        out[searching] = hi[searching].astype(float)
        return out


def usage_table(forecast_means: pd.DataFrame, series: pd.DataFrame, period: str, day_after: date) -> UsageCurves:
    """:func:`usage_curves` as one ``UsageCurves``: the forecast means per period (``location_id, drug_id,
    period_start, mean``, each series' periods in order), then ``annual_usage_units`` / 365 a day."""
    ids = forecast_means[["location_id", "drug_id"]]
    keys = pd.MultiIndex.from_frame(ids.drop_duplicates())
    row = keys.get_indexer(pd.MultiIndex.from_frame(ids))
    position = ids.groupby(["location_id", "drug_id"], sort=False).cumcount().to_numpy()
    days = pd.to_datetime(forecast_means["period_start"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    n, width = len(keys), int(position.max(initial=-1)) + 1
    grid = np.full((n, width), np.iinfo(np.int64).min)
    grid[row, position] = days
    if n == 0 or not (grid == grid[0]).all():  # series with periods of their own: each curve on its own
        curves = usage_curves(forecast_means, series, period, day_after)
        return UsageCurves.from_curves(keys, [curves[k] for k in keys])
    means = np.zeros((n, width))
    means[row, position] = forecast_means["mean"].to_numpy(dtype=float)
    starts = [date(1970, 1, 1) + timedelta(days=int(d)) for d in grid[0]]
    cumulative = _cumulative_days(starts, period, means, day_after)
    return UsageCurves(keys, cumulative, np.full(n, cumulative.shape[1] - 1), _tails(series, keys),
                       means.sum(axis=1))


def _tails(series: pd.DataFrame, keys: pd.MultiIndex) -> np.ndarray:
    """Each key's ``max(annual_usage_units, 0) / 365`` (the series' last row if it has two; 0 without one),
    as :func:`usage_curves` reads it."""
    usage = series["annual_usage_units"].to_numpy(dtype=float)
    per_day = np.where(0.0 > usage, 0.0, usage) / 365.0  # Python's max(usage, 0.0): NaN stays NaN
    index = pd.MultiIndex.from_frame(series[["location_id", "drug_id"]])
    last = ~index.duplicated(keep="last")
    found = index[last].get_indexer(keys)
    return np.where(found >= 0, per_day[last][np.maximum(found, 0)], 0.0)


def _cumulative_days(starts: list[date], period: str, means: np.ndarray, day_after: date) -> np.ndarray:
    """``UsageCurve._cumulative_days`` of every row of ``means`` (forecast means over the same ``starts``)."""
    bounds = [*starts, calendar.add_periods(starts[-1], 1, period)]  # type: ignore[arg-type]
    lengths = np.diff([(b - day_after).days for b in bounds])
    daily = np.repeat(means / lengths, lengths, axis=1)
    skip = (day_after - starts[0]).days
    daily = daily[:, skip:] if skip >= 0 else np.hstack([np.zeros((len(means), -skip)), daily])
    return np.hstack([np.zeros((len(means), 1)), np.cumsum(daily, axis=1)])


def usage_curves(forecast_means: pd.DataFrame, series: pd.DataFrame, period: str,
                 day_after: date) -> dict[tuple[str, str], UsageCurve]:
    """Expected use per (location, drug): the forecast means per period (``location_id, drug_id,
    period_start, mean``), then the series' ``annual_usage_units`` / 365 a day as the flat tail."""
    groups = list(forecast_means.groupby(["location_id", "drug_id"], sort=False))
    keys = pd.MultiIndex.from_tuples([key for key, _ in groups]) if groups else pd.MultiIndex.from_arrays([[], []])
    tails = _tails(series, keys)
    return {key: UsageCurve([pd.Timestamp(d).date() for d in rows["period_start"]], period,
                            rows["mean"].to_numpy(dtype=float), day_after, float(tail))
            for (key, rows), tail in zip(groups, tails, strict=True)}


def days_until(expiry: date | None, day_after: date) -> float:
    """Days a lot expiring on ``expiry`` is usable from ``day_after`` on (``inf``: no expiry)."""
    if expiry is None:
        return math.inf
    return float(max((expiry - day_after).days, 0))


def project_fefo(units: np.ndarray, usable_days: np.ndarray, curve: UsageCurve) -> np.ndarray:
    """Units of each lot used before it expires, lots used first-expiry-first-out (``usable_days``: days each lot
    can still be used, ``inf``: never expires); in the input order. :func:`project_fefo_rows` for one series."""
    units, usable_days = np.asarray(units, dtype=float), np.asarray(usable_days, dtype=float)
    return project_fefo_rows(curve.table, ROW_0, np.zeros(len(units), dtype=np.int64), units, usable_days)


def project_fefo_rows(curves: UsageCurves, curve_rows: np.ndarray, owner: np.ndarray, units: np.ndarray,
                      usable_days: np.ndarray) -> np.ndarray:
    """:func:`project_fefo` of many series at once: entry ``j`` (``units[j]``, ``usable_days[j]``) belongs to series
    ``owner[j]``, whose curve is row ``curve_rows[owner[j]]`` of ``curves``. Each series' entries are used in order
    of expiry (ties in the order given): the k-th of every series is projected in step k, against what its
    earlier entries used."""
    place = places(owner)
    order = np.lexsort((place, usable_days, owner))  # argsort(usable_days, stable) per series
    rank = places(owner[order])
    reach = curves.cumulative(curve_rows[owner], usable_days)  # D(expiry) of every entry, at once
    used = np.zeros(len(owner))
    taken = np.zeros(int(owner.max(initial=-1)) + 1)
    for k in range(int(rank.max(initial=-1)) + 1):
        at = order[rank == k]
        o = owner[at]
        used[at] = np.clip(reach[at] - taken[o], 0.0, units[at])
        taken[o] += used[at]
    return used


def places(owner: np.ndarray) -> np.ndarray:
    """Each element's place among the elements of its owner before it (0, 1, ...), ``owner`` in any order."""
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    starts = np.searchsorted(sorted_owner, sorted_owner, side="left")
    places = np.empty(len(owner), dtype=np.int64)
    places[order] = np.arange(len(owner)) - starts
    return places


def cap_for_stock(curve: UsageCurve, lot_units: np.ndarray, lot_usable_days: np.ndarray, on_order_units: float,
                  lead_time_days: int, shelf_life_days: float) -> tuple[np.ndarray, float, float]:
    """(units of each lot used before it expires, units used of all stock held and on order, the
    expiry cap of a new order).

    Stock on order arrives within the lead time, fresh: it is projected as a lot used after what is
    on hand, expiring a shelf life after the lead time.
    """
    used = project_fefo(np.append(lot_units, on_order_units), np.append(lot_usable_days, lead_time_days + shelf_life_days),
                        curve)
    used_total = float(used.sum())
    return used[:-1], used_total, expiry_cap_units(curve, used_total, lead_time_days, shelf_life_days)


def expiry_cap_units(curve: UsageCurve, used_by_stock_units: float, lead_time_days: int,
                     shelf_life_days: float) -> float:
    """Most units a new order can be expected to use before it expires (see module docstring):
    :func:`expiry_caps` for one series."""
    return float(expiry_caps(curve.table, ROW_0, np.array([used_by_stock_units], dtype=float),
                             np.array([lead_time_days]), np.array([shelf_life_days], dtype=float))[0])


def expiry_caps(curves: UsageCurves, curve_rows: np.ndarray, used_by_stock_units: np.ndarray,
                lead_time_days: np.ndarray, shelf_life_days: np.ndarray) -> np.ndarray:
    """Per series, ``max(0, D(L + shelf) - max(used by stock, D(L)))``; ``inf`` without a shelf life."""
    cap = np.full(len(curve_rows), math.inf)
    finite = np.flatnonzero(np.isfinite(shelf_life_days))
    lead = lead_time_days[finite]
    reach = curves.cumulative(curve_rows[finite], lead + shelf_life_days[finite])
    at_lead = curves.cumulative(curve_rows[finite], lead)
    held = np.where(at_lead > used_by_stock_units[finite], at_lead, used_by_stock_units[finite])  # max(used, D(L))
    gap = reach - held
    cap[finite] = np.where(gap > 0.0, gap, 0.0)  # max(0.0, gap), as Python's max
    return cap
