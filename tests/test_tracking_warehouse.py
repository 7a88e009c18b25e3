"""The weekly run scores earlier forecasts in the warehouse (io/tracking.py, sql/score_forecasts.sql):
the same rows and numbers as tracking.score_forecasts on frames, on a panel with gaps, censored weeks,
series of different lengths, several earlier runs and a series without history."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import schema, tracking
from turnover.io import tracking as tracking_io
from turnover.io.demand import read_demand_panel
from turnover.io.warehouse import connect

AS_OF = date(2026, 11, 29)  # a Sunday
LAST = date(2026, 11, 23)  # the last complete week's Monday


def test_scores_kept_in_the_warehouse_are_those_scored_on_frames():
    rng = np.random.default_rng(5)
    con = connect(":memory:")
    series = [("S1", "D1", 120), ("S1", "D2", 30), ("S2", "D1", 7), ("S2", "D9", 0)]
    demand = []
    for location, drug, weeks in series:
        for k in range(weeks):
            units = float(rng.poisson(6)) if rng.random() > 0.1 else None  # some fully censored weeks
            demand.append((location, drug, LAST - timedelta(weeks=weeks - 1 - k), units))
    con.execute(f"create or replace table {schema.SERIES} as select * from (values "
                + ", ".join(f"('{a}', '{b}')" for a, b, _ in series) + ") v(location_id, drug_id)")
    frame = pd.DataFrame(demand, columns=["location_id", "drug_id", "period_start", "units"])
    con.register("_demand", frame)
    con.execute(f"create or replace table {schema.DEMAND_SERIES} as select location_id, drug_id, "
                "cast(period_start as date) as period_start, units from _demand")
    runs = [("r1", date(2026, 10, 18)), ("r2", date(2026, 11, 1)), ("r3", date(2026, 11, 15)), ("r4", date(2026, 11, 22))]
    for run_id, as_of in runs:
        con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status) values (?, ?, 'week', now(), "
                    "'completed')", [run_id, as_of])
        for location, drug, _ in series:
            if (run_id, drug) == ("r2", "D2"):
                continue  # a run that did not forecast one series
            means = rng.uniform(1, 12, 13)
            for k in range(13):
                mean = float(means[k])
                con.execute(f"insert into {schema.FORECAST} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [run_id, location, drug, as_of + timedelta(days=1 + 7 * k), mean, mean, mean * 1.3,
                             mean * 1.5, mean * 1.7, mean * 2.2, "tsb"])
            if drug != "D9":
                con.execute(f"insert into {schema.DEMAND_CLASS} (run_id, location_id, drug_id, demand_class, lifecycle, "
                            "nonzero_share_last_year) values (?, ?, ?, 'smooth', 'recurring', 1)", [run_id, location, drug])
    earlier = [r for r, _ in runs]
    expected = tracking.score_forecasts(tracking_io.read_forecasts(con, earlier), tracking_io.read_actuals(con), AS_OF,
                                        "week")
    wanted = tracking_io.read_scale_requests(con, earlier, AS_OF, "week")
    panel = read_demand_panel(con)
    periods = tracking_io.read_period_starts(con)
    later = len(periods) - np.searchsorted(periods, wanted["forecast_as_of"].to_numpy(dtype="datetime64[ns]"),
                                            side="right")
    scales = wanted[["forecast_run_id", "series_index"]].assign(scale=tracking.history_scales(
        panel.units, panel.offsets, wanted["series_index"].to_numpy(dtype=np.int64), later, "week"))
    counts = tracking_io.score_forecasts(con, earlier, AS_OF, "week", LAST, scales, "now")
    kept = tracking_io.read_scores(con)
    assert len(expected) > 25 and counts == expected["forecast_run_id"].value_counts().to_dict()
    assert list(kept.columns) == list(expected.columns)
    for column in expected.columns:
        left, right = kept[column].to_numpy(), expected[column].to_numpy()
        if column in ("forecast_as_of", "period_start"):
            left, right = pd.to_datetime(left), pd.to_datetime(right)
        assert (pd.Series(left).fillna(-1).to_numpy() == pd.Series(right).fillna(-1).to_numpy()).all(), column
