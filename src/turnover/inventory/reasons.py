"""The words of a par-level row: the constraint that set it, the reason a buyer reads, the forecast basis.

``reason`` is for purchasing, in a spreadsheet: why this par (season, trend, shortage, recall, expiry,
minimum, new or dead item) and how it moved since the previous run, in whole units, in one or two
sentences. ``forecast_basis`` is for whoever checks the forecast: the model and its backtest, the
service-level quantile and the days it covers, the service tier. ``binding_constraint`` names the
one constraint that set the numbers, most decisive first (:data:`BINDINGS`).

A change is called seasonal only for a seasonal series: seasonality strength at least the threshold,
or, with too little history to measure it, a season borrowed from the same drug at other locations.
Elsewhere a rise is use picking up again (back to about the past year's level after a quiet spell)
or trending up (beyond it); a fall likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from turnover.forecasting.models import BORROWED_PROFILE, SIGNAL_REGRESSION
from turnover.settings import PolicySettings

#: The values of ``binding_constraint``, in the order they take precedence.
BINDINGS = ("vital minimum", "dead item", "expiry cap", "recall", "shortage", "new item", "catalog minimum",
            "peak cap", "seasonal rise", "seasonal fall", "pack rounding", "demand forecast")
PACK_ROUNDING_FACTOR = 1.5  # an order at least this many times what par needs is set by the pack size
MIN_CHANGE_UNITS = 2.0  # a slow mover's 3 units after 4 is noise, not a rise or fall
#: Demand labels that explain a par moving up, and down.
RISES, FALLS = ("rise", "seasonal rise"), ("fall", "seasonal fall", "dead")
PERIODS_PER_YEAR = {"weeks": 365 / 7, "months": 12.0}

#: The columns :func:`explain` and the functions it calls read from a row (optional ones through ``getattr``).
REASON_FIELDS = (
    "actual_last_4_units", "alternatives", "annual_usage_units", "basis", "calibrated_level", "criticality",
    "expired_units", "expiry_cap_units", "forecast_next_4_units", "history_periods", "in_shortage",
    "lead_time_days", "lead_time_defaulted", "lifecycle", "min_par_units", "model", "on_hand_known",
    "order_units", "pack_size_defaulted", "pack_size_units", "par_level_units", "previous_par_units",
    "projected_waste_units", "quarantined_units", "reorder_point_units", "seasonality_strength", "service_basis",
    "service_level", "shelf_life_days", "shortage_extra_lead_days", "shortage_status", "vital_floor_units",
)


@dataclass(frozen=True)
class Wording:
    """What the words need beyond the row: the period unit, the seasonality threshold, the previous run."""

    period_unit: str = "weeks"  # "weeks" or "months"
    seasonal_strength: float = 0.3  # a series at least this seasonal has seasonal rises and falls
    since: str = ""  # "since last week", "since the previous run on 2026-10-25"; empty: no earlier run


@dataclass(frozen=True)
class Decision:
    """What set one row's order: the quantile's par, the units needed, and the expiry cap's effect."""

    quantile_par: float
    needed: float
    capped: bool  # the expiry cap cut the order (or would have, before the vital minimum)
    vital_override: bool  # the vital minimum raised the order


def since_words(as_of: date, previous_as_of: date | None, period: str) -> str:
    """How the reason names the previous run: "since last week" / "since last month" when it was one period
    before ``as_of``, else "since the previous run on <date>"; empty when there is none."""
    if previous_as_of is None:
        return ""
    if period == "week" and (as_of - previous_as_of).days == 7:
        return "since last week"
    if period == "month" and (as_of.year * 12 + as_of.month) - (previous_as_of.year * 12 + previous_as_of.month) == 1:
        return "since last month"
    return f"since the previous run on {previous_as_of.isoformat()}"


def explain(row, decision: Decision, policy: PolicySettings, wording: Wording) -> tuple[str, str, str]:
    """(binding constraint, reason, forecast basis) of one par-level row."""
    label, demand = _demand(row, policy, wording)
    binding = _binding(row, label, decision)
    first = _since(row, label, demand, wording.since)
    notes = _notes(row, binding, decision, policy, wording.period_unit)
    reason = _sentence(first) + (" " + _sentence("; ".join(notes)) if notes else "")
    return binding, reason, _forecast_basis(row, policy)


def _count(x: float) -> str:
    """Whole units with thousands separators."""
    return f"{x:,.0f}"


def _units(x: float) -> str:
    return f"{_count(x)} unit" if round(x) == 1 else f"{_count(x)} units"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _seasonal(row, threshold: float) -> bool:
    strength = getattr(row, "seasonality_strength", np.nan)
    if pd.isna(strength):  # too little history to measure: seasonal only if the season is borrowed
        return row.model == BORROWED_PROFILE
    return float(strength) >= threshold


def _demand(row, policy: PolicySettings, wording: Wording) -> tuple[str, str]:
    """(label, words) of the next 4 periods' expected use against the last 4. The label is ``seasonal rise``,
    ``seasonal fall``, ``rise``, ``fall``, ``steady``, ``dead`` or ``none`` (no comparison)."""
    unit, nxt, last = wording.period_unit, row.forecast_next_4_units, row.actual_last_4_units
    if row.history_periods == 0:
        return "none", "no dispensing history yet"
    if row.lifecycle == "dead":
        return "dead", "no use in the last 4 months, not reordered"
    expected = f"{_units(nxt)} expected in the next 4 {unit}"
    if not np.isfinite(last):
        return "none", expected
    if last <= 0:
        return "none", f"no use in the last 4 {unit}, {expected}"
    change, threshold = nxt / last - 1, policy.seasonal_change_threshold
    versus = f"({expected} vs {_count(last)} in the last 4)"
    if abs(change) < threshold or abs(nxt - last) < MIN_CHANGE_UNITS:
        return "steady", f"steady use {versus}"
    rise = change > 0
    if _seasonal(row, wording.seasonal_strength):
        if row.model == SIGNAL_REGRESSION:  # the forecast follows flu activity (a FluView signal)
            return ("seasonal rise", f"flu season rising {versus}") if rise else (
                "seasonal fall", f"flu season easing {versus}")
        return ("seasonal rise", f"seasonal rise {versus}") if rise else ("seasonal fall", f"seasonal fall {versus}")
    # Not seasonal: back towards the past year's level after a quiet (busy) spell, or a trend beyond it.
    usual = getattr(row, "annual_usage_units", np.nan) * 4 / PERIODS_PER_YEAR[unit]
    known = np.isfinite(usual) and usual > 0
    if rise:
        back = known and nxt <= usual * (1 + threshold)
        return "rise", f"{f'use picking up after a quiet 4 {unit}' if back else 'use trending up'} {versus}"
    back = known and nxt >= usual * (1 - threshold)
    return "fall", f"{f'use easing after a busy 4 {unit}' if back else 'use trending down'} {versus}"


def _binding(row, label: str, decision: Decision) -> str:
    """The one constraint that set this row's numbers, most decisive first (:data:`BINDINGS`)."""
    floors_raised = row.vital_floor_units > max(decision.quantile_par, row.reorder_point_units, row.min_par_units)
    if decision.vital_override or (row.criticality == "vital" and floors_raised):
        return "vital minimum"
    if row.lifecycle == "dead":
        return "dead item"
    if decision.capped:
        return "expiry cap"
    if row.quarantined_units > 0:
        return "recall"
    if row.in_shortage:
        return "shortage"
    if row.lifecycle == "new" or "new item" in str(row.basis):
        return "new item"
    if row.min_par_units > decision.quantile_par and row.min_par_units > 0:
        return "catalog minimum"
    if label in ("seasonal rise", "seasonal fall"):
        return label
    # Rounding up to a whole pack sets the order when it adds at least half again what par needs.
    if decision.needed > 0 and row.order_units >= PACK_ROUNDING_FACTOR * decision.needed:
        return "pack rounding"
    return "demand forecast"


def _since(row, label: str, demand: str, since: str) -> str:
    """The par's move since the previous run, with the demand words: as its cause where use moves the same way,
    else beside it (a par can fall while use picks up: the forecast a month ago expected more)."""
    if not since:
        return demand
    before, now = getattr(row, "previous_par_units", np.nan), row.par_level_units
    if pd.isna(before):
        return f"first par for this item: {demand}"
    if round(before) == round(now):
        return f"par unchanged {since}; {demand}"
    up = now > before
    cause = label in (RISES if up else FALLS)
    return f"par {'up' if up else 'down'} from {_count(before)} to {_count(now)} {since}{':' if cause else ';'} {demand}"


def _notes(row, binding: str, decision: Decision, policy: PolicySettings, unit: str) -> list[str]:
    """The constraints and warnings a buyer acts on, the binding one first."""
    notes = []
    if binding == "vital minimum":
        cap = ", even if some expires before use" if decision.capped else ""
        notes.append(f"vital drug: at least {_units(row.vital_floor_units)} ({policy.vital_min_packs} pack) "
                     f"kept on the shelf{cap}")
    elif decision.capped:
        usable = (f"only {_count(row.expiry_cap_units)} can be used before a new lot expires "
                  f"({row.shelf_life_days:g}-day shelf life)")
        if row.order_units > row.expiry_cap_units + 1e-9:
            notes.append(f"{usable}, but the shelf is empty: one pack ordered anyway")
        else:
            notes.append(f"order cut to {_units(row.order_units)}: {usable}, par needs {_count(decision.needed)}")
    if row.quarantined_units > 0:
        notes.append(f"{_units(row.quarantined_units)} recalled and quarantined: not counted as stock")
    if row.expired_units > 0:
        notes.append(f"{_units(row.expired_units)} expired: not counted as stock, take off the shelf")
    if row.in_shortage:
        alternatives = f"; alternative: {row.alternatives}" if row.alternatives else ""
        notes.append(f"FDA shortage ({row.shortage_status}): planned for a lead time {row.shortage_extra_lead_days} "
                     f"days longer{alternatives}")
    if binding == "new item":
        borrowed = ", season taken from the same drug at other locations" if row.model == BORROWED_PROFILE else ""
        notes.append(f"new item: {row.history_periods} {unit} of history{borrowed}")
    if row.min_par_units > decision.quantile_par and row.min_par_units > 0:
        notes.append(f"catalog minimum of {_units(row.min_par_units)}")
    if binding == "pack rounding":
        notes.append(f"order rounded up to whole packs of {_count(row.pack_size_units)} "
                     f"(par needs {_count(decision.needed)} more)")
    if row.lead_time_defaulted:
        notes.append(f"lead time not in the catalog: {row.lead_time_days}-day default used")
    if row.pack_size_defaulted and decision.needed > 0:
        notes.append(f"pack size not in the catalog: {_units(row.pack_size_units)} used")
    if not row.on_hand_known:
        notes.append("no on-hand record: stock taken as 0")
    if row.projected_waste_units >= 0.5:
        notes.append(f"{_units(row.projected_waste_units)} on the shelf expected to expire unused: return or transfer")
    return notes


def _forecast_basis(row, policy: PolicySettings) -> str:
    """How the forecast and the par's quantile were set, in the model's terms."""
    parts = [str(row.basis)]
    if row.lifecycle != "dead" and row.history_periods > 0:
        window = row.lead_time_days + policy.review_period_days
        level = getattr(row, "calibrated_level", row.service_level)
        recalibrated = (f" (read at the paths' {level:.1%} level, which met {row.service_level:.0%} in backtests)"
                        if abs(level - row.service_level) > 5e-4 else "")
        parts.append(f"par = {row.service_level:.0%} quantile of demand over {window} d "
                     f"({row.lead_time_days} d lead + {policy.review_period_days} d review){recalibrated}")
    if row.service_basis:
        parts.append(row.service_basis)
    return "; ".join(parts)
