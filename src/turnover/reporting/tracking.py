"""Forecast vs actual: earlier runs' forecasts scored as their periods are dispensed, and drift flags.

Each weekly run forecasts 13 weeks ahead. When a later run loads dispensing that completes some of
those weeks, it compares every forecast period with what was dispensed (the same censoring-adjusted
units the models are fitted on), in the warehouse (``io.tracking.score_forecasts``), each error scaled
by :func:`history_scales`. The scores are kept there, one row per forecast run x series x period, so
accuracy over time, by drug, class or model, is a query (:func:`accuracy`).

Drift: for each series, the latest ``window`` scored periods (each scored against the forecast made
closest before it: :func:`recent_rows`) give a recent MASE, scaled like the backtest's (in-sample MAE of the seasonal
naive forecast on the history the forecast saw). A series is flagged when that is both worse than
the naive forecast (``min_mase``) and ``ratio`` times its chosen model's backtest MASE: the model
no longer does what it did in the backtest, and a person should look (:func:`flag`).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.forecasting.backtest import mase_scale
from turnover.settings import Period, TrackingSettings

DRIFT_COLUMNS = ("location_id", "drug_id", "model", "scored_periods", "recent_mase", "backtest_mase", "mase_ratio")


def history_scales(units: np.ndarray, offsets: np.ndarray, rows: np.ndarray, later: np.ndarray,
                   period: Period) -> np.ndarray:
    """The backtest's MASE scale (``backtest.mase_scale``) of each requested series on the history a forecast
    run saw: series ``rows[j]`` of a panel (``units[offsets[i]:offsets[i + 1]]``, oldest first, NaN = censored)
    without its last ``later[j]`` periods. Every demand series runs through the same last period, so a run
    ``k`` periods back saw each series without its last ``k``. Series of equal lengths are scaled together,
    as rows; a row of -1 (no history) gets the scale of an empty one.
    """
    season_length = calendar.SEASON_LENGTH[period]
    known = rows >= 0
    sizes = (offsets[1:] - offsets[:-1])[np.where(known, rows, 0)]
    seen = np.where(known, np.maximum(sizes - later, 0), 0)
    scale = np.full(len(rows), mase_scale(np.array([]), season_length))
    starts = offsets[np.where(known, rows, 0)]
    for n in np.unique(seen):
        if n:
            group = np.flatnonzero(seen == n)
            scale[group] = mase_scale(np.nan_to_num(units[starts[group, None] + np.arange(n)]), season_length)
    return scale


#: The score columns :func:`accuracy` reads (besides its ``by`` columns).
ACCURACY_INPUTS = ("actual_units", "mean_units", "abs_error_units", "scaled_abs_error",
                   *(f"{q}_units" for q in schema.QUANTILE_COLUMNS))


def accuracy(scores: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """MASE, bias and quantile coverage of ``scores`` grouped ``by`` (e.g. ``["model"]``, ``["demand_class"]``)."""
    columns = [*by, "scored_periods", "mase", "mean_abs_error_units", "bias_units",
               *(f"coverage_{q}" for q in schema.QUANTILE_COLUMNS)]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    frame = scores.assign(
        bias=scores["actual_units"] - scores["mean_units"],
        **{f"coverage_{q}": scores["actual_units"] <= scores[f"{q}_units"] for q in schema.QUANTILE_COLUMNS},
    )
    out = frame.groupby(by, dropna=False).agg(
        scored_periods=("actual_units", "size"), mase=("scaled_abs_error", "mean"),
        mean_abs_error_units=("abs_error_units", "mean"), bias_units=("bias", "mean"),
        **{f"coverage_{q}": (f"coverage_{q}", "mean") for q in schema.QUANTILE_COLUMNS},
    ).reset_index()
    return out[columns]


def summary_accuracy(summary: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """:func:`accuracy` of scores compacted by the retention policy (``marts.accuracy_summary``: sums and counts
    per forecast run, period, model, class and horizon): the same figures as of the rows they replaced."""
    columns = [*by, "scored_periods", "mase", "mean_abs_error_units", "bias_units",
               *(f"coverage_{q}" for q in schema.QUANTILE_COLUMNS)]
    if summary.empty:
        return pd.DataFrame(columns=columns)
    sums = ["scored_periods", "sum_scaled_abs_error", "sum_abs_error_units", "sum_actual_units", "sum_mean_units",
            *(f"covered_{q}" for q in schema.QUANTILE_COLUMNS)]
    g = summary.groupby(by, dropna=False)[sums].sum().reset_index()
    n = g["scored_periods"]
    out = g[by].assign(scored_periods=n, mase=g["sum_scaled_abs_error"] / n, mean_abs_error_units=g["sum_abs_error_units"] / n,
                       bias_units=(g["sum_actual_units"] - g["sum_mean_units"]) / n,
                       **{f"coverage_{q}": g[f"covered_{q}"] / n for q in schema.QUANTILE_COLUMNS})
    return out[columns]


def latest_forecast_per_period(scores: pd.DataFrame) -> pd.DataFrame:
    """For each series and period, the score of the forecast made closest before it (shortest horizon; of two
    runs with the same as-of, the first by run id)."""
    ordered = scores.sort_values(["location_id", "drug_id", "period_start", "horizon_periods", "forecast_run_id"])
    return ordered.drop_duplicates(["location_id", "drug_id", "period_start"], keep="first")


def recent_rows(scores: pd.DataFrame, window: int) -> pd.DataFrame:
    """What :func:`flag` reads: of ``scores`` (kept scores of any number of forecast runs), each
    series' latest ``window`` periods, each scored against the forecast made closest before it
    (:func:`latest_forecast_per_period`). The weekly run keeps the same rows in the warehouse
    (``io.tracking.read_recent_scores``)."""
    latest = latest_forecast_per_period(scores)
    return latest.sort_values("period_start").groupby(["location_id", "drug_id"], sort=True).tail(window)


def flag(recent: pd.DataFrame, backtest_mase: pd.DataFrame, settings: TrackingSettings) -> pd.DataFrame:
    """Series whose recent errors drifted beyond their backtest error (``DRIFT_COLUMNS``).

    Args:
        recent: :func:`recent_rows` (``forecast_run_id, location_id, drug_id, period_start, model,
            scaled_abs_error``; one row per series and period, each series' oldest first).
        backtest_mase: ``forecast_run_id, location_id, drug_id, backtest_mase``: the chosen model's mean
            backtest MASE in the run that made the forecast.
    """
    if recent.empty:
        return pd.DataFrame(columns=list(DRIFT_COLUMNS))
    rows = recent.merge(backtest_mase, on=["forecast_run_id", "location_id", "drug_id"], how="left")
    per_series = rows.groupby(["location_id", "drug_id"], sort=True).agg(
        model=("model", "last"), scored_periods=("scaled_abs_error", "size"),
        recent_mase=("scaled_abs_error", "mean"), backtest_mase=("backtest_mase", "mean"),
    ).reset_index()
    per_series["mase_ratio"] = per_series["recent_mase"] / per_series["backtest_mase"]
    flagged = per_series[
        (per_series["scored_periods"] >= settings.drift_min_periods)
        & (per_series["recent_mase"] >= settings.drift_min_mase)
        & (per_series["mase_ratio"] > settings.drift_ratio)
    ]
    return flagged[list(DRIFT_COLUMNS)].reset_index(drop=True)


def runs_to_score(runs: pd.DataFrame, as_of: date, horizon_weeks: int) -> list[str]:
    """Earlier runs whose forecasts may have periods that completed since they were last scored: those
    with an as-of before ``as_of`` and within one horizon (plus a period) of it."""
    oldest = as_of - timedelta(days=7 * horizon_weeks + 31)
    as_ofs = pd.to_datetime(runs["as_of"]).dt.date
    return runs.loc[(as_ofs < as_of) & (as_ofs >= oldest), "run_id"].tolist()
