"""The digest's expiry flags: one per series with a lot expired or projected to expire unused, its sums those of
the series' own lots."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from turnover.pipeline.digest import expiry_flags

LOT_COLUMNS = ["location_id", "drug_id", "units", "status", "projected_waste_units", "projected_waste_value"]


def test_a_series_is_flagged_with_its_expired_units_and_the_units_and_value_it_will_not_use():
    lots = pd.DataFrame([
        ["L2", "A", 5.0, "expired", 0.0, 0.0],
        ["L1", "B", 10.0, "usable", 4.0, 12.5],
        ["L1", "B", 3.0, "expired", np.nan, np.nan],  # no projection: counted as none
        ["L1", "B", 7.0, "usable", 1500.0, 1000.0],
        ["L1", "C", 9.0, "usable", 0.0, 0.0],  # nothing at risk: no flag
    ], columns=LOT_COLUMNS)
    assert expiry_flags(lots) == [
        ("L1", "B", "expiry", "3 units expired; 1,504 units projected to expire unused (value 1,012.50)"),
        ("L2", "A", "expiry", "5 units expired"),
    ]


def flags_series_by_series(lots: pd.DataFrame) -> list[tuple]:
    """The reference: each series' rows summed on their own (``Series.sum``)."""
    rows = []
    at_risk = lots[(lots["projected_waste_units"].fillna(0) > 0) | (lots["status"] == "expired")]
    for (location_id, drug_id), group in at_risk.groupby(["location_id", "drug_id"], sort=True):
        expired = group.loc[group["status"] == "expired", "units"].sum()
        waste = group["projected_waste_units"].fillna(0).sum()
        value = group["projected_waste_value"].fillna(0).sum()
        parts = ([f"{expired:g} units expired"] if expired else []) + (
            [f"{waste:,.0f} units projected to expire unused (value {value:,.2f})"] if waste else [])
        rows.append((location_id, drug_id, "expiry", "; ".join(parts)))
    return rows


AMOUNTS = st.floats(0, 1e7) | st.sampled_from([np.nan, 0.0, 0.1, 0.005, 1e-9])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["L1", "L10", "L2", "é"]), st.sampled_from(["A", "B", "C"]), AMOUNTS,
                          st.sampled_from(["usable", "expired", None]), AMOUNTS, AMOUNTS), max_size=60))
def test_each_flag_sums_the_series_lots_as_the_series_own_rows_sum(lots):
    # A series of many lots is summed as its rows alone sum (pandas' grouped sums can differ in the last bit).
    frame = pd.DataFrame(lots, columns=LOT_COLUMNS).astype({c: float for c in LOT_COLUMNS[4:] + ["units"]})
    assert expiry_flags(frame) == flags_series_by_series(frame)
