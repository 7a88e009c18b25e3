"""The weekly run scores earlier forecasts in the warehouse (io/tracking.py, sql/score_forecasts.sql):
the same rows and numbers as the reference on frames below (the per-run scoring the warehouse replaced), on a
panel with gaps, censored weeks, series of different lengths, several earlier runs and a series without
history. And drift flagging reads, in the warehouse, the rows ``tracking.recent_rows`` keeps."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.forecasting.backtest import mase_scale
from turnover.io import tracking as tracking_io
from turnover.io.warehouse import connect
from turnover.pipeline import scoring
from turnover.reporting import tracking
from turnover.settings import Period, TrackingSettings

AS_OF = date(2026, 11, 29)  # a Sunday
LAST = date(2026, 11, 23)  # the last complete week's Monday
RUNS = [("r1", date(2026, 10, 18)), ("r2", date(2026, 11, 1)), ("r3", date(2026, 11, 15)), ("r4", date(2026, 11, 22))]
SCORE_COLUMNS = (
    "forecast_run_id", "forecast_as_of", "location_id", "drug_id", "period_start", "horizon_periods", "model",
    "demand_class", "actual_units", "mean_units", *(f"{q}_units" for q in schema.QUANTILE_COLUMNS),
    "abs_error_units", "scaled_abs_error",
)


def reference_scores(forecasts: pd.DataFrame, actuals: pd.DataFrame, as_of: date, period: Period) -> pd.DataFrame:
    """Every forecast period complete by ``as_of`` with a known actual, scored, as written before the warehouse
    scored them: each forecast run x series scaled by ``backtest.mase_scale`` of that series' history through
    the run's as-of (censored periods as 0), one at a time.

    Args:
        forecasts: earlier runs' per-period forecasts: ``forecast_run_id, forecast_as_of, location_id, drug_id,
            period_start, mean, q50 .. q99, model, demand_class``.
        actuals: ``location_id, drug_id, period_start, units`` (the demand series as of ``as_of``; null units:
            a fully censored period, not scored).
    """
    starts = pd.to_datetime(forecasts["period_start"])
    ends = starts + pd.Timedelta(days=6) if period == "week" else starts + pd.offsets.MonthEnd(0)
    scored = forecasts[(ends <= pd.Timestamp(as_of)) & (starts > pd.to_datetime(forecasts["forecast_as_of"]))]
    keys = ["location_id", "drug_id", "period_start"]
    history = actuals.assign(period_start=pd.to_datetime(actuals["period_start"]))
    known = history.dropna(subset=["units"])
    scored = scored.assign(period_start=pd.to_datetime(scored["period_start"])).merge(known, on=keys, how="inner")
    if scored.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    scales = []
    for run_id, run_as_of, location_id, drug_id in scored[
            ["forecast_run_id", "forecast_as_of", "location_id", "drug_id"]].drop_duplicates().itertuples(index=False):
        seen = history[(history["location_id"] == location_id) & (history["drug_id"] == drug_id)
                       & (history["period_start"] <= pd.Timestamp(run_as_of))].sort_values("period_start")
        scale = mase_scale(np.nan_to_num(seen["units"].to_numpy(dtype=float)), calendar.SEASON_LENGTH[period])
        scales.append((run_id, location_id, drug_id, scale))
    scored = scored.merge(pd.DataFrame(scales, columns=["forecast_run_id", "location_id", "drug_id", "scale"]),
                          on=["forecast_run_id", "location_id", "drug_id"], how="left")
    first = scored["forecast_as_of"].map(lambda d: calendar.first_forecast_start(pd.Timestamp(d).date(), period))
    step_days = calendar.DAYS_PER_PERIOD[period]
    horizon = ((scored["period_start"] - pd.to_datetime(first)).dt.days / step_days).round().astype(int) + 1
    error = (scored["units"] - scored["mean"]).abs()
    out = pd.DataFrame({
        "forecast_run_id": scored["forecast_run_id"], "forecast_as_of": pd.to_datetime(scored["forecast_as_of"]).dt.date,
        "location_id": scored["location_id"], "drug_id": scored["drug_id"],
        "period_start": scored["period_start"].dt.date, "horizon_periods": horizon, "model": scored["model"],
        "demand_class": scored["demand_class"], "actual_units": scored["units"], "mean_units": scored["mean"],
        **{f"{q}_units": scored[q] for q in schema.QUANTILE_COLUMNS},
        "abs_error_units": error, "scaled_abs_error": error / scored["scale"],
    })
    return out.sort_values(["forecast_run_id", "location_id", "drug_id", "period_start"]).reset_index(drop=True)


def read_forecasts(con, run_ids: list[str]) -> pd.DataFrame:
    """The per-period forecasts of ``run_ids``, with each run's as-of and each series' demand class."""
    return con.execute(
        f"""
        select f.run_id as forecast_run_id, r.as_of as forecast_as_of, f.location_id, f.drug_id, f.period_start,
               f.mean, {", ".join(f"f.{q}" for q in schema.QUANTILE_COLUMNS)}, f.model, c.demand_class
        from {schema.FORECAST} f
        join {schema.RUNS} r using (run_id)
        left join {schema.DEMAND_CLASS} c using (run_id, location_id, drug_id)
        where f.run_id in (select unnest(?::varchar[]))
        order by 1, 3, 4, 5
        """, [run_ids]).df()


def read_actuals(con) -> pd.DataFrame:
    """The demand series as built for the run (complete buckets through its as-of)."""
    return con.execute(
        f"select location_id, drug_id, period_start, units from {schema.DEMAND_SERIES} order by 1, 2, 3").df()


def score(con, run_ids: list[str], as_of: date, through: date, period: Period = "week", by: str = "now",
          ) -> dict[str, int]:
    """Score ``run_ids`` as the weekly run ``by`` does (``pipeline.score_forecasts``)."""
    with tracking_io.scorable(con, run_ids, as_of, period) as wanted:
        return tracking_io.score_forecasts(con, run_ids, period, through,
                                           scoring._history_scales(con, wanted, period), by)


def forecast_warehouse(seed: int = 5):
    """A warehouse with four series (one without history) and four earlier weekly runs' forecasts."""
    rng = np.random.default_rng(seed)
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
    for run_id, as_of in RUNS:
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
    return con


def test_scores_kept_in_the_warehouse_are_those_scored_on_frames():
    con = forecast_warehouse()
    earlier = [r for r, _ in RUNS]
    expected = reference_scores(read_forecasts(con, earlier), read_actuals(con), AS_OF, "week")
    counts = score(con, earlier, AS_OF, LAST)
    kept = tracking_io.read_scores(con)
    assert len(expected) > 25 and counts == expected["forecast_run_id"].value_counts().to_dict()
    assert list(kept.columns) == list(expected.columns)
    for column in expected.columns:
        left, right = kept[column].to_numpy(), expected[column].to_numpy()
        if column in ("forecast_as_of", "period_start"):
            left, right = pd.to_datetime(left), pd.to_datetime(right)
        assert (pd.Series(left).fillna(-1).to_numpy() == pd.Series(right).fillna(-1).to_numpy()).all(), column


def test_drift_reads_in_the_warehouse_the_rows_recent_rows_keeps():
    con = forecast_warehouse(seed=11)
    score(con, ["r1", "r2", "r4"], AS_OF, LAST)  # r3 not scored: the weeks before r4's are judged from r2's forecast
    # A rerun with r2's as-of (the same horizons, a worse copy): of equal horizons the first by run id is judged.
    con.execute(f"insert into {schema.FORECAST_ACCURACY} select * replace ('r2b' as forecast_run_id, "
                f"scaled_abs_error + 1 as scaled_abs_error) from {schema.FORECAST_ACCURACY} where forecast_run_id = 'r2'")
    since, window = date(2026, 11, 2), 3
    columns = ["forecast_run_id", "location_id", "drug_id", "period_start", "horizon_periods", "model",
               "scaled_abs_error"]
    scores = tracking_io.read_scores(con)
    scores = scores[pd.to_datetime(scores["period_start"]) >= pd.Timestamp(since)].sample(frac=1, random_state=3)
    in_pandas = tracking.recent_rows(scores, window)[columns]
    in_pandas = in_pandas.sort_values(["location_id", "drug_id", "period_start"]).reset_index(drop=True)
    in_warehouse = tracking_io.read_recent_scores(con, since, window, LAST)
    assert len(in_warehouse) > 6 and {1, 2, 3, 4} <= set(in_warehouse["horizon_periods"])
    assert in_warehouse["period_start"].min() > pd.Timestamp(since)  # the window, not the start, cut it
    assert "r2b" in set(scores["forecast_run_id"]) and "r2b" not in set(in_warehouse["forecast_run_id"])
    pd.testing.assert_frame_equal(in_warehouse, in_pandas)
    backtest = in_warehouse[["forecast_run_id", "location_id", "drug_id"]].drop_duplicates().assign(backtest_mase=0.1)
    settings = TrackingSettings(drift_min_periods=1, drift_min_mase=0)
    flags = tracking.flag(in_warehouse, backtest, settings)
    assert len(flags) and flags.equals(tracking.flag(in_pandas, backtest, settings))


def test_each_period_is_scored_once_and_a_second_scoring_adds_and_changes_nothing():
    con = forecast_warehouse()
    run_ids = [r for r, _ in RUNS]
    first = score(con, run_ids, AS_OF, LAST)
    kept = tracking_io.read_scores(con)
    again = score(con, run_ids, AS_OF, LAST, by="next")
    assert sum(first.values()) == len(kept) > 0 and sum(again.values()) == 0
    pd.testing.assert_frame_equal(tracking_io.read_scores(con), kept)
    # A week later (one more week dispensed): only that week's periods are scored, once per forecast run.
    later = LAST + timedelta(weeks=1)
    con.execute(f"insert into {schema.DEMAND_SERIES} select location_id, drug_id, ?, 4.0 from {schema.SERIES}", [later])
    week = score(con, run_ids, AS_OF + timedelta(weeks=1), later, by="week later")
    added = tracking_io.read_scores(con).merge(kept, how="left", indicator=True)
    added = added[added["_merge"] == "left_only"]
    assert sum(week.values()) == len(added) > 0 and (added["period_start"] == pd.Timestamp(later)).all()
    assert not added.duplicated(["forecast_run_id", "location_id", "drug_id"]).any()


def test_a_late_export_rescores_only_the_series_and_periods_it_brought_rows_to():
    con = forecast_warehouse()
    run_ids = [r for r, _ in RUNS]
    score(con, run_ids, AS_OF, LAST)
    kept = tracking_io.read_scores(con)
    scored_until = con.execute("select now()::timestamp").fetchone()[0]
    # A late file: 3 more units of S1 x D1 on a day of a week scored already.
    week = LAST - timedelta(weeks=2)
    con.execute(f"insert into {schema.LOADED_FILES} by name select 'abc' as file_sha256, 'late.csv' as file_path, "
                "'csv' as file_format, 'canonical' as mapping, ?::timestamp + interval 1 second as loaded_at, "
                "1 as rows_read, 1 as rows_loaded, 0 as rows_rejected, 7 as file_id", [scored_until])
    con.execute(f"insert into {schema.DISPENSING} by name select 7 as file_id, 2 as line, "
                "?::timestamp + interval 10 hour as dispensed_at, 'S1' as location_id, 'D1' as drug_id, 3.0 as quantity",
                [week + timedelta(days=2)])
    con.execute(f"update {schema.DEMAND_SERIES} set units = units + 3 where location_id = 'S1' and drug_id = 'D1' "
                "and period_start = ?", [week])
    with tracking_io.scorable(con, run_ids, AS_OF, "week", scored_until) as wanted:
        counts = tracking_io.score_forecasts(con, run_ids, "week", LAST, scoring._history_scales(con, wanted, "week"),
                                             "late")
    after = tracking_io.read_scores(con)
    touched = (after["location_id"] == "S1") & (after["drug_id"] == "D1") & (after["period_start"] == pd.Timestamp(week))
    assert sum(counts.values()) == touched.sum() > 0 and len(after) == len(kept)
    pd.testing.assert_frame_equal(after[~touched].reset_index(drop=True),
                                  kept[~touched.to_numpy()].reset_index(drop=True))
    assert (after.loc[touched, "actual_units"].to_numpy() == kept.loc[touched.to_numpy(), "actual_units"].to_numpy()
            + 3).all()
