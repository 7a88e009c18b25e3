"""The loop over series: classify, backtest the candidates, choose, recalibrate, forecast.

``forecast_panel`` is the one function that does per-series work. It runs in three passes so it can
be mapped over batches of series (threads, processes, a Dask cluster) with one small reduction:

1. per series: classify, backtest the candidate models on rolling origins, choose the best
   (:mod:`~turnover.forecasting.select`, each fold seeing only its own past: :mod:`~turnover.forecasting.folds`);
2. pooled: fit the quantile recalibration from the chosen models' backtest PITs (here, with
   :mod:`~turnover.forecasting.calibration`);
3. per series: fit the chosen model on the whole history, simulate, and read quantiles at the
   recalibrated levels, per period and summed over the lead time and lead time + review period
   (:mod:`~turnover.forecasting.simulate`, :mod:`~turnover.forecasting.protection`).

The inputs are prepared once for all passes (:mod:`~turnover.forecasting.work`); what the function takes and gives
is in :mod:`~turnover.forecasting.contract`.

Random draws are seeded per series from its ids, so a series' numbers do not depend on which batch
or worker computed it.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from turnover import schema
from turnover.forecasting.calibration import MIN_PITS, fit_calibration
from turnover.forecasting.contract import BatchMap, PanelForecast, ProtectionWindow, Selection, serial_map, single_threaded
from turnover.forecasting.select import PIT_COLUMNS, SCORE_COLUMNS, backtest_key, select_batch
from turnover.forecasting.simulate import (
    CALENDAR_COLUMNS,
    PROTECTION_COLUMNS,
    forecast_batch,
    forecast_key,
    prepare_final,
)
from turnover.forecasting.work import batches_by, prepare, stacked
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings


def forecast_panel(
    panel: DemandPanel, window: ProtectionWindow, as_of: date, settings: ForecastSettings,
    signals: dict[str, dict[int, float]] | None = None, reuse: Selection | None = None,
    map_batches: BatchMap = serial_map, batch_series: int = 1000, calibrate_levels: tuple[float, ...] = (),
) -> PanelForecast:
    """Classify, backtest, choose, recalibrate and forecast every series of ``panel``.

    With ``reuse`` (an earlier run's ``selection``), the backtests and the recalibration are skipped for
    the series it covers: each refits its earlier choice on its current history, with the earlier
    recalibration maps; series it does not cover (new ones) are classified, backtested and chosen. The
    recalibration covers the forecast quantiles, the window's service levels and ``calibrate_levels``
    (levels a later call reusing the selection will ask for, e.g. a what-if's grid).

    The per-series passes run over batches of ``batch_series`` series through ``map_batches``
    (in this process by default; a Dask cluster through the flow's task runner). Within a batch, the
    series of equal length and candidates are fitted together, one array operation per model and fold
    (:mod:`turnover.forecasting.fitting`). What is pooled (sibling profiles, the global model, the recalibration)
    is computed here, once, so the result does not depend on how the batches were run.

    Runs single-threaded: BLAS or OpenMP threads spinning against each other made it many times slower
    on two cores. Parallelism belongs one level up, over batches of series.
    """
    with threadpool_limits(limits=1):
        work = prepare(panel, window, as_of, settings, signals or {}, reuse, map_batches, calibrate_levels)
        stored = dict(zip(reuse.keys, zip(reuse.chosen, reuse.by_backtest, strict=True), strict=True)) if reuse else {}
        fresh = [i for i, key in enumerate(work.keys) if key not in stored]
        chosen: list = [stored[key][0] if key in stored else None for key in work.keys]
        by_backtest = [key in stored and stored[key][1] for key in work.keys]
        selected, pit_parts = [], []
        if fresh:  # pass 1 for every series without a choice to reuse (all of them in a full run)
            batches = batches_by(fresh, partial(backtest_key, work), batch_series)
            selected = map_batches(partial(single_threaded, select_batch), [work.subset(b) for b in batches],
                                   "backtest")
            for batch, part in zip(batches, selected, strict=True):
                for i, pick, flag in zip(batch, part.chosen, part.by_backtest, strict=True):
                    chosen[i], by_backtest[i] = pick, flag
                local = part.pits["series"].to_numpy(dtype=np.int64)
                pit_parts.append(part.pits.assign(series=np.asarray(batch, dtype=np.int64)[local]))
        scores = stacked([part.scores for part in selected], SCORE_COLUMNS)
        if reuse is None:
            # Two maps: the par level reads demand over the next days, so it is calibrated on the first
            # periods after each cutoff; the per-period quantiles of the forecast CSV on every horizon.
            # The PITs series by series (in panel order), whatever batches they were computed in.
            pits = stacked(pit_parts, PIT_COLUMNS).sort_values("series", kind="stable", ignore_index=True)
            near, near_report = fit_calibration(par_window_pits(pits, settings.calibration_horizon_periods),
                                                work.targets)
            everywhere, all_report = fit_calibration(pits[pits["horizon"] >= 1], work.targets)
            calibration_report = pd.concat([near_report.assign(scope="near"), all_report.assign(scope="all")],
                                           ignore_index=True)
        else:  # the reused selection's maps (new series' PITs are too few to refit them)
            near, everywhere, calibration_report = reuse.near, reuse.all, pd.DataFrame()
        batches = batches_by(range(len(work.keys)), lambda i: forecast_key(work, chosen, i), batch_series)
        final = prepare_final(work, chosen, near, everywhere)
        parts = map_batches(partial(single_threaded, forecast_batch), [final.subset(b) for b in batches], "forecast")
    keys_frame = panel.keys.reset_index(drop=True)
    return PanelForecast(
        forecast=_in_series_order([p.forecast for p in parts], schema.FORECAST_CSV_COLUMNS, "period_start"),
        protection=_in_series_order([p.protection for p in parts], PROTECTION_COLUMNS),
        calendar=_in_series_order([p.calendar for p in parts], CALENDAR_COLUMNS, "week_start"),
        classes=pd.concat([keys_frame, pd.DataFrame(work.classes, index=keys_frame.index)], axis=1),
        scores=scores.sort_values(["location_id", "drug_id", "model", "train_periods"], kind="stable",
                                  ignore_index=True) if len(scores) else scores,
        calibration=calibration_report,
        selection=Selection(tuple(work.keys), tuple(chosen), near, everywhere, tuple(by_backtest),
                            tuple(key not in stored for key in work.keys)),
    )


def par_window_pits(pits: pd.DataFrame, near_periods: int) -> pd.DataFrame:
    """The PITs the par's level is recalibrated on, per model: of demand summed over the par's window (lead
    time + review period, ``horizon`` 0), the quantity a par must cover, where the model has enough of them;
    else of each of the first ``near_periods`` periods (a sum's spread is not a period's: the per-period map
    does not carry to the window, so it is only the fallback)."""
    window = pits[pits["horizon"] == 0]
    counts = window.groupby("model").size()
    enough = set(counts[counts >= MIN_PITS].index)
    near = pits[(pits["horizon"] >= 1) & (pits["horizon"] <= near_periods) & ~pits["model"].isin(enough)]
    return pd.concat([window[window["model"].isin(enough)], near], ignore_index=True)


def _in_series_order(frames: list[pd.DataFrame], columns, *then: str) -> pd.DataFrame:
    """The batches' frames as one, rows by series (location, drug) and then ``then``."""
    return stacked(frames, columns).sort_values(["location_id", "drug_id", *then], kind="stable", ignore_index=True)
