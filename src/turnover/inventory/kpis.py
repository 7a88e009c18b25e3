"""Turnover KPIs per location x drug, and their totals for the run summary.

Turns = annual usage / average inventory; days on hand = 365 / turns (DOMAIN.md; NCPA median about
11 turns, 33 days). Annual usage is the net units dispensed over the usage window, annualised.

At the recommended par, the average inventory of a periodic-review order-up-to policy is its safety
stock plus half a cycle: ``max(S - E[D(L+R)], 0) + max(E[D(R)], pack) / 2`` (the order after each
review covers the review period's demand, or a whole pack when a pack lasts longer). At current
stock it is the usable stock on hand now.

Flags: a slow mover turns less than ``policy.slow_mover_turns`` a year at its par; overstock is
usable stock above par by more than a pack that lasts longer than ``policy.overstock_days`` of
forecast use, or any stock of a dead item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from turnover.settings import PolicySettings

DAYS_PER_YEAR = 365.0


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def turnover_kpis(pars: pd.DataFrame, days_of_cover: np.ndarray, policy: PolicySettings) -> pd.DataFrame:
    """``pars`` with ``avg_on_hand_at_par_units``, turns and days on hand at par and now, and the flags.

    Args:
        pars: ``turnover.inventory.policy.par_levels`` rows.
        days_of_cover: per row, days of forecast use the usable stock lasts (``inf``: longer than 3 years).
    """
    usage = pars["annual_usage_units"].fillna(0.0).to_numpy(dtype=float)
    par = pars["par_level_units"].to_numpy(dtype=float)
    pack = pars["pack_size_units"].to_numpy(dtype=float)
    review_demand = (pars["protection_demand_mean"] - pars["lead_time_demand_mean"]).clip(lower=0).to_numpy(dtype=float)
    safety = np.clip(par - pars["protection_demand_mean"].to_numpy(dtype=float), 0, None)
    avg_at_par = np.where(par > 0, safety + np.maximum(review_demand, pack) / 2, 0.0)
    usable = pars["usable_on_hand_units"].to_numpy(dtype=float)
    turns_at_par = _ratio(usage, avg_at_par)
    turns_now = _ratio(usage, usable)
    dead = (pars["lifecycle"] == "dead").to_numpy()
    overstock = (dead & (usable > 0)) | ((usable > par + pack) & (days_of_cover > policy.overstock_days))
    return pars.assign(
        avg_on_hand_at_par_units=avg_at_par,
        turns_at_par=turns_at_par,
        days_on_hand_at_par=_ratio(np.full_like(usage, DAYS_PER_YEAR), turns_at_par),
        turns_current=turns_now,
        days_on_hand_current=_ratio(np.full_like(usage, DAYS_PER_YEAR), turns_now),
        slow_mover=~dead & (par > 0) & (np.nan_to_num(turns_at_par, nan=0.0) < policy.slow_mover_turns),
        overstock=overstock,
    )


def run_totals(pars: pd.DataFrame, lots: pd.DataFrame, quarantine: pd.DataFrame, shortages: pd.DataFrame) -> dict:
    """Totals for the run summary: value-weighted turns and days on hand, flags and money at risk."""
    cost = pars["unit_cost"].to_numpy(dtype=float)
    known = np.isfinite(cost)
    usage_value = float((pars["annual_usage_units"].to_numpy(dtype=float) * cost)[known].sum())
    at_par_value = float((pars["avg_on_hand_at_par_units"].to_numpy(dtype=float) * cost)[known].sum())
    now_value = float((pars["usable_on_hand_units"].to_numpy(dtype=float) * cost)[known].sum())
    turns_par = usage_value / at_par_value if at_par_value > 0 else None
    turns_now = usage_value / now_value if now_value > 0 else None
    waste_value = float(lots["projected_waste_value"].fillna(0).sum()) if len(lots) else 0.0
    order_value = float((pars["order_units"].to_numpy(dtype=float) * cost)[known].sum())
    return {
        "series": len(pars),
        "orders": int((pars["order_packs"] > 0).sum()),
        "order_value": round(order_value, 2),
        "turns_at_par": round(turns_par, 2) if turns_par else None,
        "days_on_hand_at_par": round(DAYS_PER_YEAR / turns_par, 1) if turns_par else None,
        "turns_current": round(turns_now, 2) if turns_now else None,
        "days_on_hand_current": round(DAYS_PER_YEAR / turns_now, 1) if turns_now else None,
        "inventory_value_current": round(now_value, 2),
        "inventory_value_at_par": round(at_par_value, 2),
        "slow_movers": int(pars["slow_mover"].sum()),
        "overstock": int(pars["overstock"].sum()),
        "dead_items": int((pars["lifecycle"] == "dead").sum()),
        "expiry_capped": int((pars["binding_constraint"] == "expiry cap").sum()),
        "projected_waste_units": round(float(lots["projected_waste_units"].fillna(0).sum()), 1) if len(lots) else 0.0,
        "projected_waste_value": round(waste_value, 2),
        "expired_units": round(float(pars["expired_units"].sum()), 1),
        "quarantined_lots": len(quarantine),
        "quarantined_units": round(float(quarantine["units"].sum()), 1) if len(quarantine) else 0.0,
        "shortages": len(shortages),
        "values_in": "unit cost (drugs without a unit cost are left out of values)",
    }
