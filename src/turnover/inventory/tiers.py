"""Service tiers: ABC class by annual spend, crossed with criticality, sets each drug's service level.

ABC (Pareto) classification ranks a location's drugs by annual spend (units used over the usage
window x unit cost) and closes class A where the cumulative share of spend reaches about 70%, class
B at about 90%; the rest is C. The drug that crosses a boundary belongs to the class it completes.
Criticality is the VEN classification (vital / essential / non-essential) from the catalog. The
table ``policy.service_levels[criticality][abc]`` gives the cycle service level; a single
``policy.service_level`` overrides it for every drug (a what-if).

Where a location has no unit costs at all, drugs are ranked by units instead (said in the basis);
where only some costs are missing, those drugs have no known spend and fall in C.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from turnover.settings import PolicySettings


def abc_classes(spend: pd.Series, shares: tuple[float, float]) -> pd.Series:
    """ABC class of each value of ``spend`` (one location), by cumulative share of the total.

    >>> abc_classes(pd.Series([70.0, 20.0, 6.0, 4.0]), (0.7, 0.9)).tolist()
    ['A', 'B', 'C', 'C']
    """
    values = spend.fillna(0.0).clip(lower=0.0)
    total = float(values.sum())
    if total <= 0:
        return pd.Series("C", index=spend.index)
    ordered = values.sort_values(ascending=False, kind="stable")
    before = (ordered.cumsum() - ordered) / total  # share of spend of the drugs ranked above
    tol = 1e-9
    labels = np.where(before < shares[0] - tol, "A", np.where(before < shares[1] - tol, "B", "C"))
    labels = np.where(ordered.to_numpy() > 0, labels, "C")
    return pd.Series(labels, index=ordered.index).reindex(spend.index)


def assign_service_levels(series: pd.DataFrame, policy: PolicySettings) -> pd.DataFrame:
    """``series`` with ``annual_spend``, ``abc_class``, ``service_level`` and ``service_basis`` (words).

    Needs ``location_id``, ``annual_usage_units``, ``unit_cost`` and ``criticality`` columns.
    """
    out = series.copy()
    usage = out["annual_usage_units"].fillna(0.0).clip(lower=0.0)
    out["annual_spend"] = usage * out["unit_cost"]
    out["abc_class"] = "C"
    out["abc_basis"] = "spend"
    for _, rows in out.groupby("location_id", sort=False):
        has_cost = rows["unit_cost"].notna().any()
        ranked = rows["annual_spend"] if has_cost else usage.loc[rows.index]
        out.loc[rows.index, "abc_class"] = abc_classes(ranked, policy.abc_shares)
        if not has_cost:
            out.loc[rows.index, "abc_basis"] = "units (no unit costs)"
    table = policy.service_levels
    tier_level = [table[c][a] for c, a in zip(out["criticality"], out["abc_class"], strict=True)]
    if policy.service_level is not None:
        out["service_level"] = policy.service_level
        out["service_basis"] = f"service level {policy.service_level:.0%} set for every drug"
    else:
        out["service_level"] = tier_level
        out["service_basis"] = [
            f"{c} x ABC {a} (by {b}): {level:.0%} service"
            for c, a, b, level in zip(out["criticality"], out["abc_class"], out["abc_basis"], tier_level, strict=True)
        ]
    return out.drop(columns="abc_basis")
