"""Peak-season sanity: a par far above any demand ever seen over its window is limited unless something backs it.

A par covers demand over L + R days (a reorder point over L). Rule (``policy.peak_cap_multiple`` = k, 2.5 by
default; 0 switches it off): the demand quantile a par or reorder point is read from is at most k times the
most demand the series ever saw over any window of the same length, unless a named reason backs more (a
signal running above any earlier season, or a trend: ``turnover.forecasting.peaks``, which the forecast adds
to each series' protection frame).

The rule applies only to a history of at least one full season, so that the peak seen includes a season's
peak (a new item's few weeks say nothing about its busiest ones). A par the rule limited says so in its reason
(:func:`notes`) and its ``binding_constraint`` is ``peak cap``. Pure functions: no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The bounds :func:`bounds` sets, as :func:`turnover.inventory.policy.par_levels` keeps them for the par calendar
#: (NaN: no bound).
BOUND_COLUMNS = ("peak_lead_bound_units", "peak_bound_units")
BINDING = "peak cap"


def bounds(frame: pd.DataFrame, multiple: float) -> tuple[np.ndarray, np.ndarray]:
    """The most the reorder point's and the par's demand quantiles may be per row: ``multiple`` x the most
    demand seen over L and over L + R days; NaN (no bound) where the rule is off (``multiple`` 0), the peak is
    unknown or zero, or a reason backs more (``peak_backing``)."""
    n = len(frame)
    if multiple <= 0 or "peak_protection_units" not in frame:
        return np.full(n, np.nan), np.full(n, np.nan)
    backed = frame["peak_backing"].fillna("").astype(str).to_numpy() != "" if "peak_backing" in frame \
        else np.zeros(n, dtype=bool)
    out = []
    for column in ("peak_lead_units", "peak_protection_units"):
        peak = frame[column].to_numpy(dtype=float)
        out.append(np.where(np.isfinite(peak) & (peak > 0) & ~backed, multiple * peak, np.nan))
    return out[0], out[1]


def limit(quantile, bound) -> np.ndarray:
    """``quantile`` limited to ``bound`` (NaN bound: unlimited)."""
    return np.fmin(np.asarray(quantile, dtype=float), np.asarray(bound, dtype=float))


def notes(frame: pd.DataFrame, quantile_units, bound, multiple: float, review_days: int) -> list[str]:
    """Per row, the reason's words about the rule: where it limited the par, by how much and against what; where
    a backing reason let the par go beyond ``multiple`` x the peak, that reason; else empty."""
    quantile_units = np.asarray(quantile_units, dtype=float)
    bound = np.asarray(bound, dtype=float)
    out = []
    rows = zip(frame["lead_time_days"], frame.get("peak_protection_units", pd.Series(np.nan, index=frame.index)),
               frame.get("peak_backing", pd.Series("", index=frame.index)), quantile_units, bound, strict=True)
    for lead, peak, backed, q, b in rows:
        days = int(lead) + int(review_days)
        if np.isfinite(b) and q > b:
            out.append(f"par limited to {multiple:g}x the most ever dispensed in {days} days ({np.ceil(b - 1e-9):,.0f} "
                       f"units, against {peak:,.0f} at most before; the forecast alone gave {np.ceil(q - 1e-9):,.0f})")
        elif multiple > 0 and isinstance(backed, str) and backed and np.isfinite(peak) and q > multiple * peak:
            out.append(f"par above {multiple:g}x the most ever dispensed in {days} days ({peak:,.0f}): {backed}")
        else:
            out.append("")
    return out


#: Bindings a peak cap takes precedence over: those that only say the forecast set the par.
_FORECAST_BINDINGS = ("seasonal rise", "seasonal fall", "pack rounding", "demand forecast")


def with_notes(pars: pd.DataFrame, quantile_units, bounds_units: tuple, policy) -> pd.DataFrame:
    """The par rows with the rule's bounds (:data:`BOUND_COLUMNS`, for the par calendar), its words appended to
    ``reason`` (:func:`notes`), and ``binding_constraint`` = ``peak cap`` where it limited a par the forecast
    alone would have set.

    Args:
        pars: ``turnover.inventory.policy.par_levels`` rows (with ``reason``, ``binding_constraint``, ``lead_time_days``).
        quantile_units: each row's demand quantile over L + R before the rule.
        bounds_units: (reorder point bound, par bound) from :func:`bounds`.
        policy: ``PolicySettings`` (``peak_cap_multiple``, ``review_period_days``).
    """
    lead_bound, par_bound = bounds_units
    quantile_units = np.asarray(quantile_units, dtype=float)
    words = notes(pars, quantile_units, par_bound, policy.peak_cap_multiple, policy.review_period_days)
    limited = np.isfinite(par_bound) & (quantile_units > par_bound)
    # The reason stays one or two sentences: the words join the second one, or make it.
    reason = [r if not w else f"{r[:-1]}; {w}." if ". " in r else f"{r} {w[:1].upper()}{w[1:]}."
              for r, w in zip(pars["reason"], words, strict=True)]
    binding = np.where(limited & pars["binding_constraint"].isin(_FORECAST_BINDINGS).to_numpy(), BINDING,
                       pars["binding_constraint"].to_numpy())
    return pars.assign(peak_lead_bound_units=lead_bound, peak_bound_units=par_bound, reason=reason,
                       binding_constraint=binding)
