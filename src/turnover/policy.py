"""Par levels from demand quantiles: reorder point, order-up-to level, order in whole packs.

Periodic review, order-up-to policy (Silver, Pyke & Thomas, *Inventory and Production Management
in Supply Chains*, 4th ed., ch. 6; Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed.,
sec. 4.3 base-stock): every review period R, order up to S, where S covers demand over the lead time
L plus R at the cycle service level alpha:

    reorder point  s = F_L^-1(alpha)          demand over L days
    par (order-up-to) S = F_{L+R}^-1(alpha)  demand over L + R days
    inventory position = usable on hand + on order   (expired and recalled lots excluded)
    order = ceil_packs(max(0, S - position)), cut to whole packs within the expiry cap

F^-1 is read at each drug's service level (``turnover.tiers``: ABC x criticality, raised for a drug in
shortage). Floors: the catalog minimum, and for a vital drug ``vital_min_packs`` packs, which also
overrides the expiry cap (a vital drug is kept on the shelf even if some of it will expire). A dead
item (no use in four months) gets no reorder beyond those floors.

F^-1 is the quantile of the forecast's simulated demand summed over the window (not a normal
approximation: slow movers are far from normal). With normal demand of mean mu and s.d. sigma per
day this reduces to the textbook S = mu (L + R) + z_alpha sigma sqrt(L + R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from turnover.forecast import SEASONAL_MODELS as FORECAST_SEASONAL_MODELS
from turnover.models import BORROWED_PROFILE, SIGNAL_REGRESSION
from turnover.ordering import (  # noqa: F401  (re-exported: the arithmetic of the policy)
    EPSILON,
    ceil_units,
    inventory_position,
    order_in_packs,
    order_up_to,
    round_up_to_packs,
)
from turnover.settings import PolicySettings
from turnover.shortages import match_shortages
from turnover.tiers import assign_service_levels

# Models whose forecast carries a season: their rises and falls are called seasonal in the reason.
SEASONAL_MODELS = (*FORECAST_SEASONAL_MODELS, BORROWED_PROFILE, SIGNAL_REGRESSION)

def plan_series(series: pd.DataFrame, shortages: pd.DataFrame, policy: PolicySettings) -> pd.DataFrame:
    """The series with their service tier and shortage adjustments: the inputs the forecast reads.

    Adds ``abc_class``, ``annual_spend``, ``service_level``, ``service_basis``, ``in_shortage``,
    ``shortage_status``, ``shortage_generic_name``, ``shortage_availability`` and
    ``shortage_extra_lead_days``; a drug in shortage gets the extra lead time
    and at least the shortage service level.
    """
    out = assign_service_levels(series, policy)
    catalog = out[["drug_id", "generic_name"]].drop_duplicates("drug_id")
    matches = match_shortages(catalog, shortages, policy.shortage).drop_duplicates("drug_id").set_index("drug_id")
    for column in ("shortage_status", "shortage_generic_name", "shortage_availability"):
        out[column] = out["drug_id"].map(matches[column]).astype(object)
    out["in_shortage"] = out["shortage_status"].notna()
    extra = np.where(out["in_shortage"], policy.shortage.extra_lead_time_days, 0)
    out["shortage_extra_lead_days"] = extra
    out["lead_time_days"] = out["lead_time_days"] + extra
    raised = out["in_shortage"] & (out["service_level"] < policy.shortage.service_level)
    out.loc[raised, "service_level"] = policy.shortage.service_level
    out.loc[raised, "service_basis"] = out.loc[raised, "service_basis"] + (
        f"; raised to {policy.shortage.service_level:.0%} for the shortage")
    return out


PACK_ROUNDING_FACTOR = 1.5  # an order at least this many times what par needs is set by the pack size

STOCK_DEFAULTS = {"quarantined_units": 0.0, "expired_units": 0.0, "projected_waste_units": 0.0,
                  "expiry_cap_units": np.inf, "in_shortage": False, "criticality": "essential", "shelf_life_days": np.nan,
                  "shortage_extra_lead_days": 0, "service_basis": "", "alternatives": ""}


def vital_floor_units(criticality, pack_size_units, policy: PolicySettings) -> np.ndarray:
    """Units a drug keeps however slowly it moves: ``vital_min_packs`` packs if vital, else 0."""
    return np.where(np.asarray(criticality) == "vital", policy.vital_min_packs * np.asarray(pack_size_units, float), 0.0)


def pars_from_quantiles(lead_q, protection_q, dead, min_par_units, vital_floor) -> tuple[np.ndarray, ...]:
    """(reorder point, the quantile's par, par) in whole units, with the floors; a dead item keeps only them."""
    dead = np.asarray(dead, dtype=bool)
    rop = np.where(dead, 0.0, ceil_units(lead_q))
    quantile_par = np.where(dead, 0.0, ceil_units(protection_q))
    par = np.maximum.reduce([quantile_par, rop, np.asarray(min_par_units, dtype=float), np.asarray(vital_floor, float)])
    return rop, quantile_par, par


def par_levels(series: pd.DataFrame, protection: pd.DataFrame, policy: PolicySettings, period_unit: str = "weeks",
               seasonal_strength: float = 0.3) -> pd.DataFrame:
    """One row per series: reorder point, par, position, order in units and packs, binding constraint, reason.

    Args:
        series: ``staging.series`` rows (ids, pack size, on hand, on order, catalog minimum, tier, flags),
            with the stock figures of ``turnover.stock.project_stock`` where lots are known
            (``usable_on_hand_units``, ``quarantined_units``, ``expired_units``, ``expiry_cap_units``).
        protection: ``forecast_panel``'s protection frame (service-level demand over L and L + R).
        policy: review period, floors and the change threshold the reason uses.
        period_unit: ``"weeks"`` or ``"months"``, for the reason text.
        seasonal_strength: a series at least this seasonal calls its changes seasonal.
    """
    frame = series.merge(protection, on=["location_id", "drug_id"], how="inner", suffixes=("", "_forecast"))
    for column, default in {**STOCK_DEFAULTS, "lifecycle": None}.items():
        if column not in frame:
            frame[column] = default
    if "usable_on_hand_units" not in frame:
        frame["usable_on_hand_units"] = frame["on_hand_units"]
    if "service_level" not in frame:
        frame["service_level"] = policy.service_level or 0.95
    dead = (frame["lifecycle"] == "dead").to_numpy()
    pack = frame["pack_size_units"].to_numpy(dtype=float)
    vital_floor = vital_floor_units(frame["criticality"], pack, policy)
    rop, quantile_par, par = pars_from_quantiles(frame["lead_time_demand_units"], frame["protection_demand_units"],
                                                 dead, frame["min_par_units"], vital_floor)
    position = inventory_position(frame["usable_on_hand_units"], frame["on_order_units"])
    needed = order_up_to(par, position)
    packs, capped, vital_override = order_in_packs(needed, position, pack, frame["expiry_cap_units"], vital_floor)
    out = frame.assign(
        reorder_point_units=rop,
        par_level_units=par,
        order_units=packs * pack,
        order_packs=packs,
        review_period_days=policy.review_period_days,
        forecast_units_next_4_periods=frame["forecast_next_4_units"].round(1),
        expiry_capped=capped & ~vital_override,
        vital_floor_units=vital_floor,
    )
    # Rows of only the fields the reasons read: a chain's 60,000 rows of every column took twice as long.
    fields = out[[c for c in REASON_FIELDS if c in out.columns]]
    decided = [
        _reason(row, q, need, cap, vo, policy, period_unit, seasonal_strength)
        for row, q, need, cap, vo in zip(fields.itertuples(index=False), quantile_par, needed, capped, vital_override,
                                          strict=True)
    ]
    out["binding_constraint"] = [b for b, _ in decided]
    out["reason"] = [r if r.startswith(b) else f"{b}: {r}" for b, r in decided]
    return out.drop(columns=["expiry_capped"])


#: The columns ``_reason`` and the functions it calls read from a row (optional ones through ``getattr``).
REASON_FIELDS = (
    "actual_last_4_units", "alternatives", "basis", "calibrated_level", "criticality", "expired_units",
    "expiry_cap_units", "forecast_next_4_units", "history_periods", "in_shortage", "lead_time_days",
    "lead_time_defaulted", "lifecycle", "min_par_units", "model", "on_hand_known", "on_order_units", "order_packs",
    "order_units", "pack_size_defaulted", "pack_size_units", "par_level_units", "projected_waste_units",
    "quarantined_units", "reorder_point_units", "seasonality_strength", "service_basis", "service_level",
    "shelf_life_days", "shortage_extra_lead_days", "shortage_status", "usable_on_hand_units", "vital_floor_units",
)


def finish_calendar(calendar: pd.DataFrame, pars: pd.DataFrame) -> pd.DataFrame:
    """Reorder point and par for each week ahead, with the same floors as this week's par."""
    calendar = calendar.drop(columns=["reorder_point_units", "par_level_units"], errors="ignore")
    floors = pars[["location_id", "drug_id", "lifecycle", "min_par_units", "vital_floor_units"]]
    frame = calendar.merge(floors, on=["location_id", "drug_id"], how="inner")
    rop, _, par = pars_from_quantiles(frame["lead_time_demand_units"], frame["protection_demand_units"],
                                      frame["lifecycle"] == "dead", frame["min_par_units"], frame["vital_floor_units"])
    return frame.assign(reorder_point_units=rop, par_level_units=par)[
        [*calendar.columns, "reorder_point_units", "par_level_units"]]


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


def _binding(row, demand: str, quantile_par: float, needed: float, capped: bool, vital_override: bool) -> str:
    """The one constraint that set this row's numbers, most decisive first."""
    floors_raised = row.vital_floor_units > max(quantile_par, row.reorder_point_units, row.min_par_units)
    if vital_override or (row.criticality == "vital" and floors_raised):
        return "vital minimum"
    if row.lifecycle == "dead":
        return "dead item"
    if capped:
        return "expiry cap"
    if row.quarantined_units > 0:
        return "recall"
    if row.in_shortage:
        return "shortage"
    if row.lifecycle == "new" or "new item" in str(row.basis):
        return "new item"
    if row.min_par_units > quantile_par and row.min_par_units > 0:
        return "catalog minimum"
    if demand.startswith(("seasonal rise", "seasonal fall")):
        return demand.split(":")[0]
    # Rounding up to a whole pack sets the order when it adds at least half again what par needs.
    if needed > 0 and row.order_units >= PACK_ROUNDING_FACTOR * needed:
        return "pack rounding"
    return "demand forecast"


def _reason(row, quantile_par: float, needed: float, capped: bool, vital_override: bool, policy: PolicySettings,
            period_unit: str, seasonal_strength: float) -> tuple[str, str]:
    """(binding constraint, what drove the numbers of one row in words)."""
    window = row.lead_time_days + policy.review_period_days
    demand = _demand_clause(row, policy, period_unit, seasonal_strength)
    parts = [demand, row.basis]
    if row.lifecycle == "dead":
        parts.insert(0, "dead item: no use in the last 4 months, no reorder")
    elif row.history_periods > 0:
        level = getattr(row, "calibrated_level", row.service_level)
        recalibrated = (
            f" (read at the paths' {level:.1%} level, which met {row.service_level:.0%} in backtests)"
            if abs(level - row.service_level) > 5e-4 else ""
        )
        parts.append(
            f"par = {row.service_level:.0%} quantile of demand over {window} d "
            f"({row.lead_time_days} d lead + {policy.review_period_days} d review){recalibrated}"
        )
    if row.service_basis:
        parts.append(row.service_basis)
    if row.in_shortage:
        parts.append(f"FDA shortage ({row.shortage_status}): lead time +{row.shortage_extra_lead_days} d"
                     + (f"; alternatives: {row.alternatives}" if row.alternatives else ""))
    if row.min_par_units > quantile_par and row.min_par_units > 0:
        parts.append(f"catalog minimum {row.min_par_units:g} units")
    if row.vital_floor_units > 0 and row.vital_floor_units >= row.par_level_units:
        parts.append(f"vital: keeps at least {_units(row.vital_floor_units)} ({policy.vital_min_packs} pack)")
    if row.lead_time_defaulted:
        parts.append(f"lead time {row.lead_time_days} d is the default (not in catalog)")
    if not row.on_hand_known:
        parts.append("no on-hand record: position taken as 0")
    if row.quarantined_units > 0:
        parts.append(f"{_units(row.quarantined_units)} recalled: quarantined, not in the position")
    if row.expired_units > 0:
        parts.append(f"{_units(row.expired_units)} expired: not in the position")
    position = row.usable_on_hand_units + row.on_order_units
    if needed <= 0:
        parts.append(f"position {position:g} covers par {row.par_level_units:g}: no order")
    else:
        pack = row.pack_size_units
        what = _units(row.order_units) if pack == 1 else f"{row.order_packs} packs of {pack:g} ({_units(row.order_units)})"
        rounding = f"; rounded up from {_units(needed)}" if row.order_units > needed + 1e-9 else ""
        if capped:
            cap = (f"expiry cap: only {row.expiry_cap_units:.0f} units can be used before a new lot expires "
                   f"({row.shelf_life_days:g} d shelf life), par needs {_units(needed)}")
            if vital_override:
                cap += "; vital minimum overrides it"
            elif row.order_units > row.expiry_cap_units + 1e-9:
                cap += "; the shelf is empty: one pack anyway, at least half of it should be used in time"
            parts.append(cap)
        if row.order_packs > 0:
            parts.append(f"order {what} to reach par from position {position:g}{'' if capped else rounding}")
        else:
            parts.append("no order")
        if row.pack_size_defaulted:
            parts.append(f"pack size {_units(pack)} is the default (not in catalog)")
    if row.projected_waste_units >= 0.5:
        parts.append(f"{row.projected_waste_units:.0f} units on hand projected to expire unused: return / transfer")
    return _binding(row, demand, quantile_par, needed, capped, vital_override), "; ".join(parts)
