"""Par levels from demand quantiles: reorder point, order-up-to level, order in whole packs.

Periodic review, order-up-to policy (Silver, Pyke & Thomas, *Inventory and Production Management
in Supply Chains*, 4th ed., ch. 6; Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed.,
sec. 4.3 base-stock): every review period R, order up to S, where S covers demand over the lead time
L plus R at the cycle service level alpha:

    reorder point  s = F_L^-1(alpha)          demand over L days
    par (order-up-to) S = F_{L+R}^-1(alpha)  demand over L + R days
    inventory position = usable on hand + on order   (expired and recalled lots excluded)
    order = ceil_packs(max(0, S - position)), cut to whole packs within the expiry cap

F^-1 is read at each drug's service level (``turnover.inventory.tiers``: ABC x criticality, raised for a drug in
shortage). Floors: the catalog minimum, and for a vital drug ``vital_min_packs`` packs, which also
overrides the expiry cap (a vital drug is kept on the shelf even if some of it will expire). A dead
item (no use in four months) gets no reorder beyond those floors.

F^-1 is the quantile of the forecast's simulated demand summed over the window (not a normal
approximation: slow movers are far from normal). With normal demand of mean mu and s.d. sigma per
day this reduces to the textbook S = mu (L + R) + z_alpha sigma sqrt(L + R).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from turnover.inventory import peak_cap
from turnover.inventory.ordering import (  # noqa: F401  (re-exported: the arithmetic of the policy)
    EPSILON,
    ceil_units,
    inventory_position,
    order_in_packs,
    order_up_to,
    round_up_to_packs,
)
from turnover.inventory.reasons import REASON_FIELDS, Decision, Wording, explain
from turnover.inventory.shortages import match_shortages
from turnover.inventory.tiers import assign_service_levels
from turnover.settings import PolicySettings


def plan_series(series: pd.DataFrame, shortages: pd.DataFrame, policy: PolicySettings,
                as_of: date | None = None) -> pd.DataFrame:
    """The series with their service tier and shortage adjustments: the inputs the forecast reads.

    Adds ``abc_class``, ``annual_spend``, ``service_level``, ``service_basis``, ``in_shortage``,
    ``shortage_status``, ``shortage_generic_name``, ``shortage_availability`` and
    ``shortage_extra_lead_days``; a drug in shortage (of those posted by ``as_of``, if given:
    ``shortages.shortages_known_on``) gets the extra lead time and at least the shortage service level.
    """
    out = assign_service_levels(series, policy)
    catalog = out[["drug_id", "generic_name"]].drop_duplicates("drug_id")
    matches = match_shortages(catalog, shortages, policy.shortage, as_of).drop_duplicates("drug_id").set_index("drug_id")
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
               seasonal_strength: float = 0.3, *, since: str = "") -> pd.DataFrame:
    """One row per series: reorder point, par, position, order in units and packs, binding constraint, reason
    and forecast basis (``turnover.inventory.reasons``).

    Args:
        series: ``staging.series`` rows (ids, pack size, on hand, on order, catalog minimum, tier, flags),
            with the stock figures of ``turnover.inventory.stock.project_stock`` where lots are known
            (``usable_on_hand_units``, ``quarantined_units``, ``expired_units``, ``expiry_cap_units``), and
            ``previous_par_units`` (the previous run's par) where there was one.
        protection: ``forecast_panel``'s protection frame (service-level demand over L and L + R).
        policy: review period, floors and the change threshold the reason uses.
        period_unit: ``"weeks"`` or ``"months"``, for the reason text.
        seasonal_strength: a series at least this seasonal calls its changes seasonal.
        since: how the reason names the previous run (``reasons.since_words``); empty: there is none.

    ``expiry_cap_units`` is kept, in whole units, only where the cap cut the order (or the vital minimum
    overrode it); elsewhere it is empty.
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
    lead_bound, par_bound = peak_cap.bounds(frame, policy.peak_cap_multiple)  # peak-season sanity (turnover.inventory.peak_cap)
    rop, quantile_par, par = pars_from_quantiles(peak_cap.limit(frame["lead_time_demand_units"], lead_bound),
                                                 peak_cap.limit(frame["protection_demand_units"], par_bound),
                                                 dead, frame["min_par_units"], vital_floor)
    position = inventory_position(frame["usable_on_hand_units"], frame["on_order_units"])
    needed = order_up_to(par, position)
    cap = frame["expiry_cap_units"].to_numpy(dtype=float)
    packs, capped, vital_override = order_in_packs(needed, position, pack, cap, vital_floor)
    out = frame.assign(
        reorder_point_units=rop,
        par_level_units=par,
        order_units=packs * pack,
        order_packs=packs,
        review_period_days=policy.review_period_days,
        forecast_units_next_4_periods=frame["forecast_next_4_units"].round(1),
        vital_floor_units=vital_floor,
        # Whole units a new lot can serve before it expires, where that cut the order; else not applicable.
        expiry_cap_units=np.where(capped, np.floor(cap + EPSILON), np.nan),
    )
    # Rows of only the fields the reasons read: a chain's 60,000 rows of every column took twice as long.
    fields = out[[c for c in REASON_FIELDS if c in out.columns]]
    wording = Wording(period_unit, seasonal_strength, since)
    decided = [
        explain(row, Decision(q, need, bool(cut), bool(vo)), policy, wording)
        for row, q, need, cut, vo in zip(fields.itertuples(index=False), quantile_par, needed, capped,
                                         vital_override, strict=True)
    ]
    out["binding_constraint"] = [b for b, _, _ in decided]
    out["reason"] = [r for _, r, _ in decided]
    out["forecast_basis"] = [f for _, _, f in decided]
    return peak_cap.with_notes(out, frame["protection_demand_units"], (lead_bound, par_bound), policy)


def finish_calendar(calendar: pd.DataFrame, pars: pd.DataFrame) -> pd.DataFrame:
    """Reorder point and par for each week ahead, with the same floors as this week's par."""
    calendar = calendar.drop(columns=["reorder_point_units", "par_level_units"], errors="ignore")
    floors = pars.reindex(columns=["location_id", "drug_id", "lifecycle", "min_par_units", "vital_floor_units",
                                   *peak_cap.BOUND_COLUMNS])  # the par's peak-season bounds (NaN: none)
    frame = calendar.merge(floors, on=["location_id", "drug_id"], how="inner")
    rop, _, par = pars_from_quantiles(peak_cap.limit(frame["lead_time_demand_units"], frame["peak_lead_bound_units"]),
                                      peak_cap.limit(frame["protection_demand_units"], frame["peak_bound_units"]),
                                      frame["lifecycle"] == "dead", frame["min_par_units"], frame["vital_floor_units"])
    return frame.assign(reorder_point_units=rop, par_level_units=par)[
        [*calendar.columns, "reorder_point_units", "par_level_units"]]
