"""Forecast vs actual: earlier runs' forecasts scored as their periods are dispensed, and drift flags.

Each weekly run forecasts 13 weeks ahead. When a later run loads dispensing that completes some of
those weeks, ``score_forecasts`` compares every forecast period with what was dispensed (the same
censoring-adjusted units the models are fitted on). The scores are kept in the warehouse, one row
per forecast run x series x period, so accuracy over time, by drug, class or model, is a query.

Drift: for each series, the latest ``window`` scored periods (each scored against the forecast made
closest before it) give a recent MASE, scaled like the backtest's (in-sample MAE of the seasonal
naive forecast on the history the forecast saw). A series is flagged when that is both worse than
the naive forecast (``min_mase``) and ``ratio`` times its chosen model's backtest MASE: the model
no longer does what it did in the backtest, and a person should look.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.backtest import mase_scale
from turnover.settings import Period, TrackingSettings

SCORE_COLUMNS = (
    "forecast_run_id", "forecast_as_of", "location_id", "drug_id", "period_start", "horizon_periods", "model",
    "demand_class", "actual_units", "mean_units", *(f"{q}_units" for q in schema.QUANTILE_COLUMNS),
    "abs_error_units", "scaled_abs_error",
)
DRIFT_COLUMNS = ("location_id", "drug_id", "model", "scored_periods", "recent_mase", "backtest_mase", "mase_ratio")


def period_end(period_start: pd.Series, period: Period) -> pd.Series:
    """The last day of each bucket."""
    starts = pd.to_datetime(period_start)
    if period == "week":
        return starts + pd.Timedelta(days=6)
    return starts + pd.offsets.MonthEnd(0)


def score_forecasts(forecasts: pd.DataFrame, actuals: pd.DataFrame, as_of: date, period: Period) -> pd.DataFrame:
    """Every forecast period complete by ``as_of`` with a known actual, scored.

    Args:
        forecasts: earlier runs' per-period forecasts: ``forecast_run_id, forecast_as_of, location_id, drug_id,
            period_start, mean, q50 .. q99, model, demand_class``.
        actuals: ``location_id, drug_id, period_start, units`` (the demand series as of ``as_of``; null units:
            a fully censored period, not scored).
    """
    if forecasts.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    complete = period_end(forecasts["period_start"], period) <= pd.Timestamp(as_of)
    scored = forecasts[complete & (pd.to_datetime(forecasts["period_start"]) > pd.to_datetime(forecasts["forecast_as_of"]))]
    keys = ["location_id", "drug_id", "period_start"]
    known = actuals.dropna(subset=["units"])
    scored = scored.assign(period_start=pd.to_datetime(scored["period_start"])).merge(
        known.assign(period_start=pd.to_datetime(known["period_start"])), on=keys, how="inner")
    if scored.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    scales = _scales(scored[["forecast_run_id", "forecast_as_of", "location_id", "drug_id"]].drop_duplicates(),
                     actuals, period)
    scored = scored.merge(scales, on=["forecast_run_id", "location_id", "drug_id"], how="left")
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


def _scales(runs: pd.DataFrame, actuals: pd.DataFrame, period: Period) -> pd.DataFrame:
    """The backtest's MASE scale per forecast run x series, on the history that run saw (:func:`history_scales`)."""
    history = actuals.assign(period_start=pd.to_datetime(actuals["period_start"])).sort_values(
        ["location_id", "drug_id", "period_start"], kind="stable")
    sizes = history.groupby(["location_id", "drug_id"], sort=True).size()
    index = pd.Series(np.arange(len(sizes)), index=sizes.index)
    offsets = np.r_[0, np.cumsum(sizes.to_numpy())].astype(np.int64)
    periods = np.sort(history["period_start"].unique())
    at = index.reindex(pd.MultiIndex.from_frame(runs[["location_id", "drug_id"]])).to_numpy()
    as_ofs = pd.to_datetime(runs["forecast_as_of"]).to_numpy()
    later = len(periods) - np.searchsorted(periods, as_ofs, side="right")
    scale = history_scales(history["units"].to_numpy(dtype=float), offsets,
                           np.where(np.isnan(at), -1, at).astype(np.int64), later, period)
    return pd.DataFrame({"forecast_run_id": runs["forecast_run_id"].to_numpy(),
                         "location_id": runs["location_id"].to_numpy(), "drug_id": runs["drug_id"].to_numpy(),
                         "scale": scale}, columns=["forecast_run_id", "location_id", "drug_id", "scale"])


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


def latest_forecast_per_period(scores: pd.DataFrame) -> pd.DataFrame:
    """For each series and period, the score of the forecast made closest before it (shortest horizon)."""
    ordered = scores.sort_values(["location_id", "drug_id", "period_start", "horizon_periods"])
    return ordered.drop_duplicates(["location_id", "drug_id", "period_start"], keep="first")


def drift_flags(scores: pd.DataFrame, backtest_mase: pd.DataFrame, settings: TrackingSettings) -> pd.DataFrame:
    """Series whose recent errors drifted beyond their backtest error (``DRIFT_COLUMNS``).

    Args:
        scores: ``score_forecasts`` rows (any number of forecast runs).
        backtest_mase: ``forecast_run_id, location_id, drug_id, backtest_mase``: the chosen model's mean
            backtest MASE in the run that made the forecast.
    """
    if scores.empty:
        return pd.DataFrame(columns=list(DRIFT_COLUMNS))
    latest = latest_forecast_per_period(scores).merge(
        backtest_mase, on=["forecast_run_id", "location_id", "drug_id"], how="left")
    latest = latest.sort_values("period_start").groupby(["location_id", "drug_id"], sort=True).tail(
        settings.drift_window_periods)
    recent = latest.groupby(["location_id", "drug_id"], sort=True).agg(
        model=("model", "last"), scored_periods=("scaled_abs_error", "size"),
        recent_mase=("scaled_abs_error", "mean"), backtest_mase=("backtest_mase", "mean"),
    ).reset_index()
    recent["mase_ratio"] = recent["recent_mase"] / recent["backtest_mase"]
    flagged = recent[
        (recent["scored_periods"] >= settings.drift_min_periods)
        & (recent["recent_mase"] >= settings.drift_min_mase)
        & (recent["mase_ratio"] > settings.drift_ratio)
    ]
    return flagged[list(DRIFT_COLUMNS)].reset_index(drop=True)


def runs_to_score(runs: pd.DataFrame, as_of: date, horizon_weeks: int) -> list[str]:
    """Earlier runs whose forecasts may have periods that completed since they were last scored: those
    with an as-of before ``as_of`` and within one horizon (plus a period) of it."""
    oldest = as_of - timedelta(days=7 * horizon_weeks + 31)
    as_ofs = pd.to_datetime(runs["as_of"]).dt.date
    return runs.loc[(as_ofs < as_of) & (as_ofs >= oldest), "run_id"].tolist()
