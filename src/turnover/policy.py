"""Par levels from demand quantiles: reorder point, order-up-to level, order in whole packs.

Periodic review, order-up-to policy (Silver, Pyke & Thomas, *Inventory and Production Management
in Supply Chains*, 4th ed., ch. 6; Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed.,
sec. 4.3 base-stock): every review period R, order up to S, where S covers demand over the lead time
L plus R at the cycle service level alpha:

    reorder point  s = F_L^-1(alpha)          demand over L days
    par (order-up-to) S = F_{L+R}^-1(alpha)  demand over L + R days
    inventory position = on hand + on order
    order = ceil_packs(max(0, S - position))

F^-1 is the quantile of the forecast's simulated demand summed over the window (not a normal
approximation: slow movers are far from normal). With normal demand of mean mu and s.d. sigma per
day this reduces to the textbook S = mu (L + R) + z_alpha sigma sqrt(L + R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from turnover.forecast import SEASONAL_MODELS as FORECAST_SEASONAL_MODELS
from turnover.models import BORROWED_PROFILE, SIGNAL_REGRESSION
from turnover.settings import PolicySettings

# Models whose forecast carries a season: their rises and falls are called seasonal in the reason.
SEASONAL_MODELS = (*FORECAST_SEASONAL_MODELS, BORROWED_PROFILE, SIGNAL_REGRESSION)

# Guards ceil() against float noise such as 30.000000000000004 units.
EPSILON = 1e-9


def ceil_units(units: np.ndarray | pd.Series) -> np.ndarray:
    """Round a quantity of units up to a whole unit."""
    return np.ceil(np.asarray(units, dtype=float) - EPSILON)


def round_up_to_packs(units: np.ndarray | pd.Series, pack_size_units: np.ndarray | pd.Series) -> np.ndarray:
    """Whole packs needed to supply ``units`` (0 for 0 or less)."""
    packs = np.ceil(np.asarray(units, dtype=float) / np.asarray(pack_size_units, dtype=float) - EPSILON)
    return np.clip(packs, 0, None).astype(np.int64)


def inventory_position(on_hand_units, on_order_units) -> np.ndarray:
    """On hand + on order, in units."""
    return np.asarray(on_hand_units, dtype=float) + np.asarray(on_order_units, dtype=float)


def order_up_to(par_level_units, position_units) -> np.ndarray:
    """Units to order to bring the position up to par; never negative."""
    return np.clip(np.asarray(par_level_units, dtype=float) - np.asarray(position_units, dtype=float), 0, None)


def par_levels(series: pd.DataFrame, protection: pd.DataFrame, policy: PolicySettings, period_unit: str = "weeks",
               seasonal_strength: float = 0.3) -> pd.DataFrame:
    """One row per series: reorder point, par, position, order in units and packs, and the reason.

    Args:
        series: ``staging.series`` rows (ids, pack size, on hand, on order, catalog minimum, flags).
        protection: ``forecast_panel``'s second frame (service-level demand over L and L + R).
        policy: service level, review period and the change threshold the reason uses.
        period_unit: ``"weeks"`` or ``"months"``, for the reason text.
        seasonal_strength: a series at least this seasonal (``turnover.classify``) calls its changes
            seasonal (the forecast's ``seasonal_strength_threshold``).
    """
    frame = series.merge(protection, on=["location_id", "drug_id"], how="inner", suffixes=("", "_forecast"))
    if "lifecycle" not in frame:
        frame["lifecycle"] = None
    dead = (frame["lifecycle"] == "dead").to_numpy()
    # A dead item (no use in four months) is not reordered: only a catalog minimum is kept.
    rop = np.where(dead, 0.0, ceil_units(frame["lead_time_demand_units"]))
    quantile_par = np.where(dead, 0.0, ceil_units(frame["protection_demand_units"]))
    par = np.maximum.reduce([quantile_par, rop, frame["min_par_units"].to_numpy(dtype=float)])
    position = inventory_position(frame["on_hand_units"], frame["on_order_units"])
    needed = order_up_to(par, position)
    packs = round_up_to_packs(needed, frame["pack_size_units"])
    out = frame.assign(
        reorder_point_units=rop,
        par_level_units=par,
        order_units=packs * frame["pack_size_units"].to_numpy(dtype=float),
        order_packs=packs,
        service_level=policy.service_level,
        review_period_days=policy.review_period_days,
        forecast_units_next_4_periods=frame["forecast_next_4_units"].round(1),
    )
    out["reason"] = [
        _reason(row, q, need, policy, period_unit, seasonal_strength)
        for row, q, need in zip(out.itertuples(index=False), quantile_par, needed, strict=True)
    ]
    return out


def _units(x: float) -> str:
    return f"{x:g} unit" if x == 1 else f"{x:g} units"


def _percent(x: float) -> str:
    return f"{x:+.0%}"


def _demand_clause(row, policy: PolicySettings, period_unit: str, seasonal_strength: float) -> str:
    nxt, last = row.forecast_next_4_units, row.actual_last_4_units
    if row.history_periods == 0:
        return "no history: catalog minimum" if row.min_par_units > 0 else "no history: nothing to forecast"
    if not np.isfinite(last):
        return f"next 4 {period_unit} {_units(round(nxt))}"
    if last <= 0:
        return f"next 4 {period_unit} {_units(round(nxt))} after 4 {period_unit} without use"
    change = nxt / last - 1
    strength = getattr(row, "seasonality_strength", np.nan)
    seasonal = row.model in SEASONAL_MODELS or (np.isfinite(strength) and strength >= seasonal_strength)
    kind = "seasonal " if seasonal else ""
    if change >= policy.seasonal_change_threshold:
        return f"{kind}rise: next 4 {period_unit} {_percent(change)} vs last 4"
    if change <= -policy.seasonal_change_threshold:
        return f"{kind}fall: next 4 {period_unit} {_percent(change)} vs last 4"
    return f"steady: next 4 {period_unit} {_percent(change)} vs last 4"


def _reason(row, quantile_par: float, needed: float, policy: PolicySettings, period_unit: str,
            seasonal_strength: float) -> str:
    """What drove the numbers of one row, in words, most decisive first."""
    window = row.lead_time_days + policy.review_period_days
    parts = [_demand_clause(row, policy, period_unit, seasonal_strength), row.basis]
    if row.lifecycle == "dead":
        parts.insert(0, "dead item: no use in the last 4 months, no reorder")
    elif row.history_periods > 0:
        level = getattr(row, "calibrated_level", policy.service_level)
        recalibrated = (
            f" (read at the paths' {level:.1%} level, which met {policy.service_level:.0%} in backtests)"
            if abs(level - policy.service_level) > 5e-4 else ""
        )
        parts.append(
            f"par = {policy.service_level:.0%} quantile of demand over {window} d "
            f"({row.lead_time_days} d lead + {policy.review_period_days} d review){recalibrated}"
        )
    if row.min_par_units > quantile_par and row.min_par_units > 0:
        parts.append(f"catalog minimum {row.min_par_units:g} units")
    if row.lead_time_defaulted:
        parts.append(f"lead time {row.lead_time_days} d is the default (not in catalog)")
    if not row.on_hand_known:
        parts.append("no on-hand record: position taken as 0")
    position = row.on_hand_units + row.on_order_units
    if needed <= 0:
        parts.append(f"position {position:g} covers par {row.par_level_units:g}: no order")
    else:
        pack = row.pack_size_units
        what = _units(row.order_units) if pack == 1 else f"{row.order_packs} packs of {pack:g} ({_units(row.order_units)})"
        rounding = f"; rounded up from {_units(needed)}" if row.order_units > needed + 1e-9 else ""
        parts.append(f"order {what} to reach par from position {position:g}{rounding}")
        if row.pack_size_defaulted:
            parts.append(f"pack size {_units(pack)} is the default (not in catalog)")
    return "; ".join(parts)
