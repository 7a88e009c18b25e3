"""Forecast vs actual: scoring earlier forecasts, accuracy by group, and drift flags."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.reporting.test_tracking_warehouse import score
from turnover import calendar, schema
from turnover.io import tracking as tracking_io
from turnover.io.warehouse import connect
from turnover.reporting import tracking
from turnover.settings import Period, TrackingSettings

MONDAYS = [date(2026, 11, 16) + timedelta(weeks=k) for k in range(4)]


def forecast_rows(run_id: str, as_of: date, means: list[float], drug: str = "D1") -> pd.DataFrame:
    starts = [as_of + timedelta(days=1 + 7 * k) for k in range(len(means))]
    frame = pd.DataFrame({"forecast_run_id": run_id, "forecast_as_of": as_of, "location_id": "L1", "drug_id": drug,
                          "period_start": starts, "mean": means, "model": "dynamic_harmonic", "demand_class": "smooth"})
    for q, level in zip(schema.QUANTILE_COLUMNS, schema.QUANTILE_LEVELS, strict=True):
        frame[q] = np.array(means) * (0.5 + level)
    return frame


def actual_rows(units: list[float], first: date, drug: str = "D1") -> pd.DataFrame:
    return pd.DataFrame({"location_id": "L1", "drug_id": drug,
                         "period_start": [first + timedelta(weeks=k) for k in range(len(units))], "units": units})


def score_forecasts(forecasts: pd.DataFrame, actuals: pd.DataFrame, as_of: date, period: Period) -> pd.DataFrame:
    """The scores the weekly run keeps for ``forecasts`` (``forecast_rows``) against ``actuals`` (the demand
    series as of ``as_of``, every series ending on the same period), scored in a warehouse holding them."""
    con = connect(":memory:")
    for name, frame in {"_forecasts": forecasts, "_actuals": actuals}.items():
        con.register(name, frame)
    con.execute(f"create or replace table {schema.SERIES} as select distinct location_id, drug_id from "
                "(select location_id, drug_id from _actuals union all select location_id, drug_id from _forecasts)")
    con.execute(f"create or replace table {schema.DEMAND_SERIES} as select location_id, drug_id, "
                "cast(period_start as date) as period_start, cast(units as double) as units from _actuals")
    con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status) select distinct "
                "forecast_run_id, cast(forecast_as_of as date), ?, now(), 'completed' from _forecasts", [period])
    con.execute(f"insert into {schema.FORECAST} by name select forecast_run_id as run_id, location_id, drug_id, "
                f"cast(period_start as date) as period_start, mean, {', '.join(schema.QUANTILE_COLUMNS)}, model "
                "from _forecasts")
    con.execute(f"insert into {schema.DEMAND_CLASS} (run_id, location_id, drug_id, demand_class, lifecycle, "
                "nonzero_share_last_year) select distinct forecast_run_id, location_id, drug_id, demand_class, "
                "'recurring', 1 from _forecasts")
    score(con, sorted(forecasts["forecast_run_id"].unique()), as_of, calendar.last_history_start(as_of, period),
          period)
    scores = tracking_io.read_scores(con)
    return scores.assign(forecast_as_of=scores["forecast_as_of"].dt.date, period_start=scores["period_start"].dt.date)


def test_only_complete_periods_after_the_forecast_are_scored_with_their_horizon_and_scaled_error():
    forecasts = forecast_rows("r1", date(2026, 11, 15), [10.0, 10.0, 10.0])
    # History: 20 weeks alternating 8 and 12 (one-step naive MAE = 4), then 13 and 7 in the forecast weeks.
    history = actual_rows([8.0, 12.0] * 10 + [13.0, 7.0], date(2026, 11, 16) - timedelta(weeks=20))
    scores = score_forecasts(forecasts, history, date(2026, 11, 29), "week")
    assert list(scores["period_start"]) == MONDAYS[:2]  # the third week is not dispensed yet
    assert list(scores["horizon_periods"]) == [1, 2]
    assert list(scores["abs_error_units"]) == [3.0, 3.0]
    assert scores["scaled_abs_error"].tolist() == pytest.approx([0.75, 0.75])


def test_a_censored_period_is_not_scored():
    forecasts = forecast_rows("r1", date(2026, 11, 15), [10.0, 10.0])
    history = actual_rows([5.0] * 8 + [None, 9.0], date(2026, 11, 16) - timedelta(weeks=8))
    scores = score_forecasts(forecasts, history, date(2026, 11, 29), "week")
    assert list(scores["period_start"]) == [MONDAYS[1]]


def test_accuracy_reports_coverage_and_bias_by_group():
    forecasts = pd.concat([forecast_rows("r1", date(2026, 11, 15), [10.0, 10.0]),
                           forecast_rows("r1", date(2026, 11, 15), [10.0, 10.0], drug="D2")])
    history = pd.concat([actual_rows([10.0] * 8 + [12.0, 30.0], date(2026, 9, 21)),
                         actual_rows([10.0] * 8 + [4.0, 6.0], date(2026, 9, 21), drug="D2")])
    scores = score_forecasts(forecasts, history, date(2026, 11, 29), "week")
    by_drug = tracking.accuracy(scores, ["drug_id"]).set_index("drug_id")
    # q95 = 14.5: D1 covers 12 but not 30; D2 covers both.
    assert by_drug.loc["D1", "coverage_q95"] == 0.5 and by_drug.loc["D2", "coverage_q95"] == 1.0
    assert by_drug.loc["D1", "bias_units"] == pytest.approx(11.0) and by_drug.loc["D2", "bias_units"] == pytest.approx(-5.0)


def drift_flags(scores: pd.DataFrame, backtest_mase: pd.DataFrame, settings: TrackingSettings) -> pd.DataFrame:
    """Drift flags of ``scores`` (any number of forecast runs' scores of any periods), as the weekly run flags
    the rows it reads in the warehouse."""
    return tracking.flag(tracking.recent_rows(scores, settings.drift_window_periods), backtest_mase, settings)


def drift_scores(errors: list[float]) -> pd.DataFrame:
    n = len(errors)
    return pd.DataFrame({"forecast_run_id": "r1", "location_id": "L1", "drug_id": "D1",
                         "period_start": [date(2026, 1, 5) + timedelta(weeks=k) for k in range(n)],
                         "horizon_periods": 1, "model": "tsb", "scaled_abs_error": errors})


@pytest.mark.parametrize(("errors", "backtest", "flagged"), [
    ([2.0] * 6, 0.8, True),      # 2.5x the backtest and worse than naive
    ([2.0] * 3, 0.8, False),     # too few scored periods
    ([0.9] * 6, 0.4, False),     # 2.25x, but still better than the naive forecast
    ([1.1] * 6, 0.9, False),     # worse than naive, but as bad as in the backtest
])
def test_drift_needs_enough_periods_worse_than_naive_and_beyond_the_backtest(errors, backtest, flagged):
    backtest_mase = pd.DataFrame({"forecast_run_id": ["r1"], "location_id": ["L1"], "drug_id": ["D1"],
                                  "backtest_mase": [backtest]})
    flags = drift_flags(drift_scores(errors), backtest_mase, TrackingSettings())
    assert (len(flags) == 1) is flagged


def test_drift_reads_each_period_from_the_closest_forecast_and_only_the_latest_window():
    # Old periods were bad, the last eight good: no flag. The closest forecast (horizon 1) is the one judged.
    scores = drift_scores([5.0] * 6 + [0.5] * 8)
    far = scores.assign(horizon_periods=4, scaled_abs_error=9.0, forecast_run_id="r0")
    backtest_mase = pd.DataFrame({"forecast_run_id": ["r1", "r0"], "location_id": "L1", "drug_id": "D1",
                                  "backtest_mase": [0.5, 0.5]})
    assert drift_flags(pd.concat([scores, far]), backtest_mase, TrackingSettings()).empty
