"""The two lists a purchaser reads first, each with the sentence that says how it is sorted.

- **Par moves by value**: ``|par - baseline| x unit cost`` (units where a drug has no unit cost), largest
  first. The baseline is the previous run's par; on a first run, with no earlier par, it is today's
  inventory position (usable on hand + on order), so the list still shows where the new pars ask most.
- **Seasonal swings**: among series with a yearly pattern (``seasonality_strength`` at least the
  threshold the forecast uses to try seasonal models only), the forecast for the next 4 periods against
  the demand of the last 4, in percent, largest swing first, rises and falls. These are the numbers the
  par's reason quotes (``marts.protection_demand``), so the two always agree.

The HTML report and the markdown summary both take their titles and sort sentences from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from turnover.inventory.ordering import inventory_position

#: Drugs in each list (each charted in the report).
LIST_LENGTH = 8
KEYS = ["location_id", "drug_id"]
#: Columns of ``RunDigest.movers``: one row per series, the biggest value moved first.
MOVE_COLUMNS = (
    "location_id", "drug_id", "drug_name", "baseline_units", "par_level_units", "change_units", "change_pct",
    "change_value", "binding_constraint", "reason",
)
#: Columns of ``RunDigest.seasonal``: one row per seasonal series, the largest swing first.
SEASONAL_COLUMNS = (
    "location_id", "drug_id", "drug_name", "seasonality_strength", "actual_last_4_units", "forecast_next_4_units",
    "change_pct",
)


@dataclass(frozen=True)
class ListText:
    """What a list is called, how it is sorted, and what it says when it is empty, in plain words."""

    title: str
    sorted_by: str
    empty: str
    baseline: str = ""  # what the par is compared with (par moves only)


def moves_text(previous_as_of: date | None) -> ListText:
    """The par-move list's words: against the previous run's par, or on a first run today's stock position."""
    value = "|par − {0}| × unit cost, largest first (drugs without a unit cost count their units)"
    if previous_as_of is None:
        return ListText(
            "Biggest par moves, by value",
            "First run: no earlier par to compare with, so each new par is compared with today's stock position "
            "(usable on hand + on order). Sorted by the gap in money: " + value.format("position") + ".",
            "Every par equals today's stock position.", baseline="stock position")
    return ListText(
        "Biggest par moves, by value",
        f"Sorted by how much each par moved since the run of {previous_as_of}, in money: "
        + value.format("previous par") + ".",
        f"No par moved since the run of {previous_as_of}.", baseline="previous par")


def seasonal_text(strength_threshold: float, period: str) -> ListText:
    """The seasonal list's words, for runs by ``period`` (``week`` or ``month``)."""
    return ListText(
        f"Strongest seasonal swings, next 4 {period}s",
        f"Drugs with a yearly pattern (seasonality strength ≥ {strength_threshold:g}, the forecast's own test), "
        f"sorted by how far the forecast for the next 4 {period}s is from the demand of the last 4, in percent, "
        "largest first: rises and falls.",
        f"No drug with a yearly pattern (seasonality strength ≥ {strength_threshold:g}) changes over the next 4 "
        f"{period}s.")


def par_moves(pars: pd.DataFrame, previous: pd.DataFrame | None, limit: int = LIST_LENGTH) -> pd.DataFrame:
    """``MOVE_COLUMNS`` of the ``limit`` series whose par moved most in value, biggest first.

    Args:
        pars: this run's par rows (``unit_cost``, and on a first run ``usable_on_hand_units`` and
            ``on_order_units``, are read when present).
        previous: the previous run's ``location_id, drug_id, par_level_units``; ``None`` on a first run,
            when the baseline is today's inventory position.
    """
    if previous is None:
        position = inventory_position(pars["usable_on_hand_units"].fillna(0.0), pars["on_order_units"].fillna(0.0))
        baseline = pars[KEYS].assign(baseline_units=position)
    else:
        baseline = previous[[*KEYS, "par_level_units"]].rename(columns={"par_level_units": "baseline_units"})
    merged = pars.merge(baseline, on=KEYS, how="inner")
    merged["change_units"] = merged["par_level_units"] - merged["baseline_units"]
    merged["change_pct"] = _percent(merged["change_units"], merged["baseline_units"])
    cost = merged["unit_cost"].astype(float) if "unit_cost" in merged else pd.Series(np.nan, index=merged.index)
    merged["change_value"] = merged["change_units"] * cost
    merged["moved"] = (merged["change_units"] * cost.fillna(1.0)).abs()
    return _largest(merged[merged["change_units"] != 0], "moved", limit)[list(MOVE_COLUMNS)]


def seasonal_swings(pars: pd.DataFrame, protection: pd.DataFrame, strength_threshold: float,
                    limit: int = LIST_LENGTH) -> pd.DataFrame:
    """``SEASONAL_COLUMNS`` of the ``limit`` seasonal series whose next 4 periods differ most from their last 4.

    Args:
        pars: this run's par rows (``drug_name``, ``seasonality_strength``).
        protection: ``location_id, drug_id, forecast_next_4_units, actual_last_4_units`` of the run.
        strength_threshold: the least ``seasonality_strength`` that counts as a yearly pattern.
    """
    strength = pars["seasonality_strength"].astype(float)
    seasonal = pars.loc[strength >= strength_threshold, [*KEYS, "drug_name", "seasonality_strength"]]
    merged = seasonal.merge(protection[[*KEYS, "forecast_next_4_units", "actual_last_4_units"]], on=KEYS)
    last = merged["actual_last_4_units"].astype(float)
    merged["change_pct"] = _percent(merged["forecast_next_4_units"] - last, last)
    merged["swing"] = merged["change_pct"].abs()
    return _largest(merged[merged["swing"] > 0], "swing", limit)[list(SEASONAL_COLUMNS)]


def _percent(change: pd.Series, base: pd.Series) -> np.ndarray:
    """``100 * change / base``: infinite from a zero base, NaN without a base (fewer than 4 periods)."""
    base = base.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100 * change.to_numpy(dtype=float) / base


def _largest(frame: pd.DataFrame, column: str, limit: int) -> pd.DataFrame:
    """The ``limit`` rows largest in ``column``, ties in key order."""
    ordered = frame.sort_values([column, *KEYS], ascending=[False, True, True])
    return ordered.head(limit).reset_index(drop=True)


def percent_text(change_pct: float) -> str:
    """``+348%``, ``from 0`` (a rise from nothing), or empty when unknown."""
    if np.isnan(change_pct):
        return ""
    return "from 0" if np.isinf(change_pct) else f"{change_pct:+,.0f}%"
