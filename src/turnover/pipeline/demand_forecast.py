"""The demand and forecast steps: build the demand series for the as-of date, then forecast every series (a full
reselection, or a refit of the stored selection between reselections) with the external signals as published by
then.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from turnover import calendar, schema
from turnover.forecasting.calibration import Calibration
from turnover.forecasting.contract import BatchMap, ProtectionWindow, Selection, serial_map
from turnover.forecasting.forecast import forecast_panel
from turnover.forecasting.signals import LinkedSignal, published_by
from turnover.inventory.allocation import SERVICE_GRID, meet_fill_rate
from turnover.inventory.policy import plan_series
from turnover.io import demand as demand_io
from turnover.io import outputs, scope
from turnover.io import selection as selection_io
from turnover.io.reference import read_reference
from turnover.io.signals import read_history_end, read_signals
from turnover.pipeline.runs import warehouse
from turnover.settings import Settings

log = logging.getLogger(__name__)


def build_demand(settings: Settings, as_of: date, locations: list[str] | None = None) -> int:
    """Rebuild the demand series and the series list for ``as_of``, with each series' service tier and
    shortage adjustments, at ``locations`` (default: those that dispensed in the usage window, ``run_scope``);
    returns the series count."""
    with warehouse(settings) as con:
        demand_io.build_demand_series(con, as_of, settings.forecast.period, settings.policy)
        n = scope.keep_locations(con, scope.active_locations(con, as_of, settings.policy.usage_window_days)
                                 if locations is None else locations)
        planned = plan_series(demand_io.read_series(con), read_reference(con, schema.SHORTAGES), settings.policy,
                              as_of=as_of)  # shortages posted by then
        demand_io.replace_series(con, planned)
    return n


def forecast(settings: Settings, run_id: str, as_of: date, map_batches: BatchMap = serial_map) -> int:
    """Classify, backtest, choose and forecast every series; store every frame; returns the series count.

    Incremental rule: a full reselection (every series backtested, recalibration refitted) when the latest
    completed run's selection is ``forecast.reselect_every_days`` old or older, or there is none; in
    between, series the stored selection chose by backtest refit that model on their new history with
    the stored recalibration, and only new series and those chosen by rule (no, short or intermittent
    history) are selected afresh. The per-series work runs in batches of ``settings.execution.batch_series``
    through ``map_batches`` (one after another here by default; the flow passes its task runner's map).
    """
    with warehouse(settings) as con:
        panel = demand_io.read_demand_panel(con)
        series = demand_io.read_series(con)
        signals = signals_by_drug(con, settings, as_of)
        stored = selection_io.read_latest_selection(con, settings.forecast.period, as_of)
    window = ProtectionWindow(
        lead_time_days=series["lead_time_days"].to_numpy(),
        review_period_days=settings.policy.review_period_days,
        service_level=series["service_level"].to_numpy(dtype=float),
        calendar_periods=settings.par_calendar_periods(),
        curve_levels=SERVICE_GRID if settings.policy.fill_rate_target else (),
    )
    reuse = reusable(stored, as_of, settings.forecast.reselect_every_days)
    result = forecast_panel(panel, window, as_of, settings.forecast, signals, reuse=reuse, map_batches=map_batches,
                            batch_series=settings.execution.batch_series)
    protection, calendar_rows = result.protection, result.calendar
    if settings.policy.fill_rate_target:  # each drug's level chosen to meet the target at least stock value
        protection, calendar_rows, fill_by_location = meet_fill_rate(result, series, settings.policy)
        log.info("fill-rate target %.1f%%: expected %s", 100 * settings.policy.fill_rate_target,
                 ", ".join(f"{loc} {fill:.2%}" for loc, fill in fill_by_location.items()))
    else:  # the tiers' levels: no level chosen, no expected fill rate
        protection = protection.assign(service_basis=pd.Series([None] * len(protection), dtype=object),
                                       expected_fill_rate=np.nan)
    protection = protection.assign(review_period_days=settings.policy.review_period_days)
    models = protection["model"].value_counts().sort_index()
    selection = result.selection.frame()
    reselected = reuse is None
    selection = selection.assign(
        selected_run_id=run_id if reselected else stored.selected_run_id,  # type: ignore[union-attr]
        selected_as_of=as_of if reselected else stored.selected_as_of,  # type: ignore[union-attr]
    ).drop(columns="fresh")
    with warehouse(settings) as con:
        outputs.write_run_tables(con, run_id, {
            schema.FORECAST: result.forecast, schema.PROTECTION_DEMAND: protection, schema.PAR_CALENDAR: calendar_rows,
            schema.DEMAND_CLASS: result.classes, schema.BACKTEST_SCORES: result.scores,
            schema.CALIBRATION: result.calibration, schema.MODEL_SELECTION: selection,
        })
        outputs.record_run(con, run_id, models={str(k): int(v) for k, v in models.items()})
    fresh = int(sum(result.selection.fresh))
    if reselected:
        log.info("forecast %d series: full model reselection", len(protection))
    else:
        log.info("forecast %d series: refitted the models selected on %s; %d series selected afresh (new, or "
                 "chosen by rule)", len(protection), stored.selected_as_of, fresh)  # type: ignore[union-attr]
    return len(protection)


def reusable(stored: selection_io.StoredSelection | None, as_of: date, every_days: int) -> Selection | None:
    """The stored selection's backtest choices, while it is under ``every_days`` old; else None (reselect)."""
    if stored is None or every_days <= 0 or (as_of - stored.selected_as_of).days >= every_days:
        return None
    rows = stored.rows[stored.rows["by_backtest"].astype(bool)]
    keys = tuple(zip(rows["location_id"], rows["drug_id"], strict=True))
    return Selection(keys, tuple(zip(rows["model"], rows["basis"], strict=True)), Calibration(stored.near_levels),
                     Calibration(stored.all_levels), by_backtest=(True,) * len(keys), fresh=(False,) * len(keys))


def signals_by_drug(con, settings: Settings, as_of: date | None = None) -> dict[str, dict[int, float]]:
    """Each linked drug's signal keyed by absolute week index (weekly runs only), only the weeks published by
    ``as_of`` (each link's ``publication_lag_days`` after the week ends: ``forecasting.signals.published_by``). Without
    ``as_of``, by the last day of the demand series as built: the run's last complete week, never after it."""
    if settings.forecast.period != "week":
        return {}
    as_of = as_of or read_history_end(con)
    linked = linked_signals(con, settings)
    return published_by(linked, as_of) if as_of else {}


def linked_signals(con, settings: Settings) -> dict[str, LinkedSignal]:
    """Each linked drug's signal, every week loaded, with its link's publication lag (cut it with
    ``forecasting.signals.published_by`` for a date)."""
    loaded = read_signals(con)
    catalog = con.execute(f"select drug_id, coalesce(atc_code, '') from {schema.CATALOG}").fetchall()
    out: dict[str, LinkedSignal] = {}
    for link in settings.forecast.signals:
        if link.name not in loaded:
            continue
        series = loaded[link.name]
        by_index = {calendar.period_index(day.date(), "week"): float(v) for day, v in series.items()}
        drugs = set(link.drug_ids) | {d for d, atc in catalog if any(atc.startswith(p) for p in link.atc_prefixes)}
        out.update({drug: LinkedSignal(by_index, link.publication_lag_days) for drug in drugs})
    return out
