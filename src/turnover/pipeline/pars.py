"""The par step: each series' service level (tiers or a fill-rate target), lots, recalls, shortages, transfers, and the
par levels, calendar and KPIs they give.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover import schema
from turnover.inventory.expiry import usage_table
from turnover.inventory.kpis import run_totals, turnover_kpis
from turnover.inventory.policy import finish_calendar, par_levels
from turnover.inventory.reasons import since_words
from turnover.inventory.recalls import match_recalls, recalls_known_on
from turnover.inventory.shortages import alternatives
from turnover.inventory.stock import project_stock
from turnover.inventory.transfers import lot_transfers, plan_transfers, series_transfers, transfer_notes, with_transfer_notes
from turnover.io import demand as demand_io
from turnover.io import outputs
from turnover.io.reference import read_reference
from turnover.pipeline.runs import warehouse
from turnover.settings import Settings

log = logging.getLogger(__name__)


def set_par_levels(settings: Settings, run_id: str, as_of: date) -> int:
    """Par levels for every series of the run, from its stock by lot, the recalls known on ``as_of``
    (``recalls.recalls_known_on``) and shortages; also the lot projection, quarantine list, shortage list, par
    calendar, KPIs and run totals. Returns rows."""
    policy = settings.policy
    with warehouse(settings) as con:
        series = demand_io.read_series(con).merge(
            outputs.read_run_table(con, schema.DEMAND_CLASS, run_id), on=["location_id", "drug_id"], how="left"
        )
        protection = outputs.read_run_table(con, schema.PROTECTION_DEMAND, run_id)
        forecast_means = outputs.read_run_table(con, schema.FORECAST, run_id,
                                                ["location_id", "drug_id", "period_start", "mean"])
        lots = read_reference(con, schema.ON_HAND_LOTS)
        lots = lots[lots["location_id"].isin(set(series["location_id"]))]  # the run's locations only (run_scope)
        recalls = recalls_known_on(read_reference(con, schema.RECALLS), as_of)  # not one reported later
        calendar_raw = outputs.read_run_table(con, schema.PAR_CALENDAR, run_id)
        previous = outputs.previous_run(con, settings.forecast.period, as_of)
        if previous:
            series = series.merge(outputs.read_run_table(con, schema.PAR_LEVELS, previous[0], [
                "location_id", "drug_id", "par_level_units"]).rename(columns={"par_level_units": "previous_par_units"}),
                on=["location_id", "drug_id"], how="left")
    series = chosen_levels(series, protection)
    protection = protection.drop(columns=["service_level", "lead_time_days", "review_period_days", "service_basis",
                                          "expected_fill_rate"], errors="ignore")
    quarantine = match_recalls(lots, recalls)
    curves = usage_table(forecast_means, series, settings.forecast.period, as_of + timedelta(days=1))
    lot_rows, stock = project_stock(series, lots, quarantine, curves, as_of)
    transfers = plan_transfers(lot_rows, stock, series, curves, as_of, policy.transfer_days)
    stock = series_transfers(series, stock, transfers, curves, policy.transfer_days)
    lot_rows = lot_transfers(lot_rows, transfers)
    series = series.merge(stock, on=["location_id", "drug_id"], how="left")
    offered = alternatives(series, set(series.loc[series["in_shortage"], "drug_id"]))
    series["alternatives"] = [offered.get(key, "") for key in series_keys(series)]
    unit = "weeks" if settings.forecast.period == "week" else "months"
    # The position counts a transfer in as on order and a transfer out as gone; the columns keep the snapshot's.
    moved = series.assign(on_order_units=series["on_order_units"] + series["transfer_in_units"].fillna(0.0),
                          usable_on_hand_units=series["usable_on_hand_units"] - series["transfer_out_units"].fillna(0.0))
    pars = par_levels(moved, protection, policy, unit, settings.forecast.seasonal_strength_threshold,
                      since=since_words(as_of, previous[1] if previous else None, settings.forecast.period))
    pars = pars.assign(on_order_units=pars["on_order_units"] - pars["transfer_in_units"].fillna(0.0),
                       usable_on_hand_units=pars["usable_on_hand_units"] + pars["transfer_out_units"].fillna(0.0))
    notes = transfer_notes(pars, transfers)
    pars["reason"] = with_transfer_notes(pars["reason"], notes)
    cover = curves.days_of_cover(curves.rows(pars["location_id"], pars["drug_id"]), pars["usable_on_hand_units"])
    pars = turnover_kpis(pars, cover, policy)
    shortage_rows = pars[pars["in_shortage"]].rename(columns={"shortage_availability": "availability"})
    totals = run_totals(pars, lot_rows, quarantine, shortage_rows)
    if policy.fill_rate_target:  # the expected fill rate of the levels chosen, drugs weighed by expected use
        use = pars["forecast_units_next_4_periods"].clip(lower=0).fillna(0.0)
        fill = pars["expected_fill_rate"].fillna(1.0)
        totals |= {"fill_rate_target": policy.fill_rate_target,
                   "expected_fill_rate": round(float((use * fill).sum() / use.sum()) if use.sum() > 0 else 1.0, 4)}
    totals |= {"transfers": len(transfers), "transfer_units": round(float(transfers["units"].sum()), 1),
               "transfer_value": round(float(transfers["value_saved"].fillna(0).sum()), 2)}
    with warehouse(settings) as con:
        outputs.write_run_tables(con, run_id, {
            schema.PAR_LEVELS: pars, schema.PAR_CALENDAR: finish_calendar(calendar_raw, pars), schema.LOTS: lot_rows,
            schema.QUARANTINE: quarantine, schema.SHORTAGE_FLAGS: shortage_rows, schema.TRANSFERS: transfers,
        })
        outputs.append_recall_audit(con, run_id, as_of, quarantine)
        outputs.record_summary(con, run_id, totals)
    log.info("par levels: %s", totals)
    return len(pars)


def chosen_levels(series: pd.DataFrame, protection: pd.DataFrame) -> pd.DataFrame:
    """``series`` with the service level, its basis and the expected fill rate the forecast step chose under a
    fill-rate target (``allocation.meet_fill_rate``); without one, the tiers' levels and no expected fill rate."""
    chosen = protection[["location_id", "drug_id", "service_level", "service_basis", "expected_fill_rate"]]
    chosen = chosen[chosen["service_basis"].notna()]
    out = series.merge(chosen, on=["location_id", "drug_id"], how="left", suffixes=("", "_chosen"))
    picked = out["service_basis_chosen"].notna().to_numpy()
    return out.assign(service_level=np.where(picked, out["service_level_chosen"], out["service_level"]),
                      service_basis=np.where(picked, out["service_basis_chosen"], out["service_basis"]),
                      ).drop(columns=["service_level_chosen", "service_basis_chosen"])


def series_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["location_id"], frame["drug_id"], strict=True))
