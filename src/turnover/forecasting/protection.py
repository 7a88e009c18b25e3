"""Demand over a par's window from simulated paths: day windows over the forecast periods, the quantile of
window sums at a series' level, and the service curves a fill-rate target allocates over
(``turnover.inventory.allocation``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import calendar
from turnover.forecasting import backtest
from turnover.forecasting.contract import PanelForecast


class DayWindows:
    """Period weights of day windows after as-of, computed once per (offset, length) in a run: every
    series shares the forecast periods, and lead times take a few values."""

    def __init__(self, starts: list[date], period: str, day_after: date):
        self.starts, self.period, self.day_after = starts, period, day_after
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def weights(self, offset_days: int, length_days: int) -> np.ndarray:
        """Share of each period in ``[day_after + offset, + length)`` (see ``calendar.window_weights``)."""
        key = (offset_days, length_days)
        if key not in self._cache:
            self._cache[key] = calendar.window_weights(
                self.starts, self.period, self.day_after + timedelta(days=offset_days), length_days)  # type: ignore[arg-type]
        return self._cache[key]

    def matrix(self, offsets: list[int], length_days: int) -> np.ndarray:
        """Weights of the windows starting at each of ``offsets`` (periods x windows)."""
        return np.column_stack([self.weights(offset, length_days) for offset in offsets])


def protection_quantiles(paths: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per series (rows of ``paths``: series x paths x periods), the quantile at its level of demand summed
    over each window (``weights``: the share of each period in each window, periods x windows).

    Monotone by construction: a higher level, or a longer window (weights no smaller, demand never
    negative), never gives a smaller quantile.
    """
    return backtest.row_quantile(paths @ weights.astype(paths.dtype), levels)


#: The protection frame's columns that carry each series' ServiceCurves (arrays, dropped before storing).
CURVE_COLUMNS = ("curve_read_levels", "curve_lead_units", "curve_protection_units", "curve_shortage_units",
                 "curve_cycle_units", "curve_calendar_lead_units", "curve_calendar_protection_units")


class CurveParts:
    """One model group's service curves, read lead-time group by lead-time group from the sorted window sums."""

    def __init__(self, n: int, n_reviews: int, read_levels: list[float]):
        self.read_levels = np.asarray(read_levels, dtype=float)
        shape = (n, n_reviews, len(read_levels))
        self.lead, self.protection = np.empty(shape), np.empty(shape)
        self.shortage, self.cycle = np.empty((n, len(read_levels))), np.empty(n)

    def read(self, at: np.ndarray, over_lead: np.ndarray, over_both: np.ndarray) -> None:
        """``over_lead`` / ``over_both``: sorted demand over L and L + R (series x paths x reviews)."""
        for g, level in enumerate(self.read_levels):
            self.lead[at, :, g] = backtest.row_quantile(over_lead, level, ordered=True)
            self.protection[at, :, g] = backtest.row_quantile(over_both, level, ordered=True)
        # This review's expected shortage per cycle at each level's whole-unit par (SPT eq. 6.13):
        # E[(D_{L+R} - S)^+] - E[(D_L - S)^+], the demand of the cycle the order cannot serve.
        par = np.ceil(self.protection[at, 0, :] - 1e-9)[:, None, :]  # series x 1 x levels
        both, lead = over_both[:, :, 0, None], over_lead[:, :, 0, None]  # series x paths x 1
        self.shortage[at] = np.maximum(
            np.maximum(both - par, 0).mean(axis=1) - np.maximum(lead - par, 0).mean(axis=1), 0.0)
        self.cycle[at] = np.maximum(both[:, :, 0].mean(axis=1) - lead[:, :, 0].mean(axis=1), 0.0)

    def columns(self) -> dict[str, list]:
        return {"curve_read_levels": [self.read_levels] * len(self.cycle), "curve_lead_units": list(self.lead[:, 0, :]), "curve_protection_units": list(self.protection[:, 0, :]),
                "curve_shortage_units": list(self.shortage), "curve_cycle_units": self.cycle,
                "curve_calendar_lead_units": list(self.lead), "curve_calendar_protection_units": list(self.protection)}


@dataclass(frozen=True)
class ServiceCurves:
    """Per series (rows in the protection frame's order) and level of ``levels``: demand over L and over
    L + R at that level (recalibrated as the service level is), the expected shortage per review cycle at
    the whole-unit par, and the expected demand per cycle; the same quantiles for each calendar review."""

    levels: np.ndarray  # (G,)
    read_levels: np.ndarray  # (n, G): the path quantile read for each level (its model's recalibration)
    lead_units: np.ndarray  # (n, G)
    protection_units: np.ndarray  # (n, G)
    shortage_units: np.ndarray  # (n, G)
    cycle_demand_units: np.ndarray  # (n,)
    calendar_lead_units: np.ndarray  # (n, reviews, G)
    calendar_protection_units: np.ndarray  # (n, reviews, G)

    @classmethod
    def of(cls, protection: pd.DataFrame, levels) -> ServiceCurves:
        def stack(column: str) -> np.ndarray:
            return np.stack(protection[column].to_list()) if len(protection) else np.zeros((0, len(levels)))
        return cls(np.asarray(levels, dtype=float), stack("curve_read_levels"), stack("curve_lead_units"), stack("curve_protection_units"),
                   stack("curve_shortage_units"), protection["curve_cycle_units"].to_numpy(dtype=float),
                   stack("curve_calendar_lead_units"), stack("curve_calendar_protection_units"))


def at_levels(result: PanelForecast, index: np.ndarray, curves: ServiceCurves) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The protection and calendar frames with each series read at its own level of ``curves`` (``index`` into
    ``curves.levels``, rows in the protection frame's order: ``ServiceCurves.of(result.protection, ...)``), the
    curve columns dropped."""
    rows = np.arange(len(index))
    protection = result.protection.drop(columns=list(CURVE_COLUMNS)).assign(
        service_level=curves.levels[index], calibrated_level=curves.read_levels[rows, index],
        lead_time_demand_units=curves.lead_units[rows, index],
        protection_demand_units=curves.protection_units[rows, index])
    calendar_frame = result.calendar
    if len(calendar_frame):
        position = pd.MultiIndex.from_frame(protection[["location_id", "drug_id"]])
        at = position.get_indexer(pd.MultiIndex.from_frame(calendar_frame[["location_id", "drug_id"]]))
        review = calendar_frame.groupby(["location_id", "drug_id"], sort=False).cumcount().to_numpy()
        calendar_frame = calendar_frame.assign(
            lead_time_demand_units=curves.calendar_lead_units[at, review, index[at]],
            protection_demand_units=curves.calendar_protection_units[at, review, index[at]])
    return protection, calendar_frame
