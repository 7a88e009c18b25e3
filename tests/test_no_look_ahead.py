"""A backdated run, or a replay week, sees only what was known on its as-of (issue 13, item 5): actuals for
drift flags, recalls, shortages and the external signal, each from its own date."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.conftest import LATE_MAY, make_settings
from turnover import calendar, pipeline, schema
from turnover.forecasting.signals import last_published_week_start
from turnover.inventory.policy import plan_series
from turnover.io import demand as demand_io
from turnover.io import outputs
from turnover.io.reference import read_reference
from turnover.io.signals import read_signals
from turnover.io.warehouse import open_warehouse
from turnover.settings import SignalLink
from turnover.simulation import replay

# --- drift flags read actuals only up to the run's as-of ----------------------------------------------------

LATEST_AS_OF = date(2026, 11, 29)  # a Sunday: the latest run, whose actuals run to the week of 2026-11-23
BACKDATED_AS_OF = date(2026, 11, 8)  # a Sunday: a run made again for an earlier date
EARLIER_RUNS = [("r1", date(2026, 10, 11)), ("r2", date(2026, 10, 18)), ("r3", date(2026, 11, 1)),
                ("r4", date(2026, 11, 15))]
SERIES = [("S1", "D1"), ("S1", "D2"), ("S2", "D1")]
WEEKS = 120


def _demand(seed: int, changed_after: date | None = None) -> pd.DataFrame:
    """Weekly demand of ``SERIES`` through the week starting 2026-11-23; weeks after ``changed_after`` tripled."""
    rng = np.random.default_rng(seed)
    last = date(2026, 11, 23)
    rows = [(location, drug, last - timedelta(weeks=WEEKS - 1 - k), float(rng.poisson(6)))
            for location, drug in SERIES for k in range(WEEKS)]
    demand = pd.DataFrame(rows, columns=["location_id", "drug_id", "period_start", "units"])
    if changed_after is not None:
        demand.loc[demand["period_start"] > changed_after, "units"] *= 3
    return demand


def _build_demand(con, demand: pd.DataFrame, as_of: date) -> None:
    """``staging.series`` and ``staging.demand_series`` as ``build_demand`` leaves them for ``as_of``: complete
    weeks only."""
    complete = demand[demand["period_start"] + timedelta(days=6) <= as_of]
    con.register("_demand", complete)
    con.execute(f"create or replace table {schema.DEMAND_SERIES} as select location_id, drug_id, "
                "cast(period_start as date) as period_start, units from _demand")
    con.unregister("_demand")
    con.execute(f"create or replace table {schema.SERIES} as select distinct location_id, drug_id "
                f"from {schema.DEMAND_SERIES} order by 1, 2")


def _earlier_runs(con, seed: int) -> None:
    """Completed weekly runs ``EARLIER_RUNS``, each with 13 weeks of forecasts and a backtest MASE per series."""
    rng = np.random.default_rng(seed)
    for run_id, as_of in EARLIER_RUNS:
        con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status) values "
                    "(?, ?, 'week', now(), 'completed')", [run_id, as_of])
        for location, drug in SERIES:
            for k, mean in enumerate(rng.uniform(1, 12, 13)):
                con.execute(f"insert into {schema.FORECAST} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [run_id, location, drug, as_of + timedelta(days=1 + 7 * k), mean, mean, mean * 1.3,
                             mean * 1.5, mean * 1.7, mean * 2.2, "tsb"])
            con.execute(f"insert into {schema.BACKTEST_SCORES} (run_id, location_id, drug_id, model, train_periods, mase, "
                            "scaled_pinball, coverage_q95, chosen) values (?, ?, ?, 'tsb', 52, 0.2, 0.1, 0.95, true)",
                        [run_id, location, drug])


def _score(settings, demand: pd.DataFrame, run_id: str, as_of: date) -> dict:
    """``pipeline.score_forecasts`` for a run at ``as_of`` on ``demand`` as built for it."""
    with open_warehouse(settings.warehouse_path) as con:
        _build_demand(con, demand, as_of)
        con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status) values "
                    "(?, ?, 'week', now(), 'running')", [run_id, as_of])
    return pipeline.score_forecasts(settings, run_id, as_of)


def _drift_flags(settings, run_id: str) -> pd.DataFrame:
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return outputs.read_run_table(con, schema.DRIFT_FLAGS, run_id)


def _tracking_warehouse(tmp_path, name: str):
    settings = make_settings(tmp_path / name)
    settings = settings.model_copy(update={"tracking": settings.tracking.model_copy(
        update={"drift_min_periods": 1, "drift_min_mase": 0.0})})
    with open_warehouse(settings.warehouse_path) as con:
        _earlier_runs(con, seed=3)
    return settings


def test_a_backdated_run_flags_drift_only_on_actuals_up_to_its_as_of(tmp_path):
    # Warehouse A: the latest run scored the earlier forecasts on every week to 2026-11-28; then a run is made
    # again for 2026-11-08. Warehouse B never saw anything after 2026-11-08. Their drift flags must agree.
    later_seen = _tracking_warehouse(tmp_path, "later_seen")
    _score(later_seen, _demand(7, changed_after=BACKDATED_AS_OF), "latest", LATEST_AS_OF)
    backdated = _score(later_seen, _demand(7), "backdated", BACKDATED_AS_OF)
    never_seen = _tracking_warehouse(tmp_path, "never_seen")
    alone = _score(never_seen, _demand(7), "backdated", BACKDATED_AS_OF)
    flags, expected = _drift_flags(later_seen, "backdated"), _drift_flags(never_seen, "backdated")
    # Each period is scored once: the latest run scored these already (with the same actuals), so the backdated run
    # scores nothing new and flags on the kept scores of periods up to its as-of.
    assert len(expected) and backdated["periods"] == 0 and alone["periods"] > 0
    assert (expected["scored_periods"] <= 4).all()  # r1's three weeks to 2026-11-07 and r2's three: 4 periods
    pd.testing.assert_frame_equal(flags, expected)


# --- the demo warehouse, copied: recalls, shortages and the flu signal ------------------------------------------

ALBUTEROL = "00487990130"  # in a Current shortage in the demo's FDA file
METOPROLOL_RECALL = "D-0355-2026"  # initiated 2026-01-29, reported 2026-03-11; a stocked lot is under it


@pytest.fixture
def demo_copy(demo_warehouse, tmp_path):
    """Settings on a copy of the demo warehouse (its runs of late May, late October and late November)."""
    settings = demo_warehouse["settings"]
    shutil.copy(settings.warehouse_path, tmp_path / "warehouse.duckdb")
    return settings.model_copy(update={"warehouse_path": tmp_path / "warehouse.duckdb", "output_dir": tmp_path / "out"})


def _execute(settings, sql: str, params: list) -> None:
    with open_warehouse(settings.warehouse_path) as con:
        con.execute(sql, params)


def _quarantined_recalls(settings, run_id: str, as_of: date) -> set[str]:
    """The recalls ``pipeline.set_par_levels`` quarantines stock for in a run at ``as_of``."""
    pipeline.build_demand(settings, as_of)
    pipeline.set_par_levels(settings, run_id, as_of)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return set(outputs.read_run_table(con, schema.QUARANTINE, run_id)["recall_number"])


@pytest.mark.parametrize(("report_date", "initiation_date", "quarantined"), [
    (date(2026, 3, 11), date(2026, 1, 29), True),  # the demo's dates: reported before late May
    (date(2026, 6, 1), date(2026, 5, 1), False),  # reported after the run: not known then, though initiated
    (None, date(2026, 6, 1), False),  # no report date: initiated after the run
    (None, date(2026, 5, 1), True),  # no report date: initiated before
])
def test_a_backdated_run_quarantines_a_lot_only_for_recalls_reported_by_its_as_of(
        demo_copy, report_date, initiation_date, quarantined):
    _execute(demo_copy, f"update {schema.RECALLS} set report_date = ?, recall_initiation_date = ?",
             [report_date, initiation_date])
    recalls = _quarantined_recalls(demo_copy, f"run-{LATE_MAY}", LATE_MAY)
    assert (METOPROLOL_RECALL in recalls) == quarantined


def _post_shortage(settings, drug_id: str, posted_on: date) -> None:
    """The demo's shortage record of ``drug_id`` first posted by FDA on ``posted_on``."""
    _execute(settings, f"update {schema.SHORTAGES} set initial_posting_date = ? where package_ndc = ?",
             [posted_on, drug_id])


def _planned(settings, as_of: date) -> pd.DataFrame:
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        series = demand_io.read_series(con)
        return plan_series(series, read_reference(con, schema.SHORTAGES), settings.policy, as_of=as_of)


@pytest.mark.parametrize(("posted_on", "in_shortage"), [(date(2026, 6, 1), False), (date(2026, 5, 1), True),
                                                        (None, True)])
def test_a_shortage_is_planned_only_from_its_posting_date(demo_copy, posted_on, in_shortage):
    pipeline.build_demand(demo_copy, LATE_MAY)
    _post_shortage(demo_copy, ALBUTEROL, posted_on)
    planned = _planned(demo_copy, LATE_MAY).set_index(["location_id", "drug_id"]).xs(ALBUTEROL, level="drug_id")
    extra_days = demo_copy.policy.shortage.extra_lead_time_days if in_shortage else 0
    assert len(planned) and (planned["in_shortage"] == in_shortage).all()
    assert (planned["shortage_extra_lead_days"] == extra_days).all()


def test_a_backdated_run_does_not_plan_a_shortage_posted_after_its_as_of(demo_copy):
    _post_shortage(demo_copy, ALBUTEROL, date(2026, 6, 1))
    pipeline.build_demand(demo_copy, LATE_MAY)
    with open_warehouse(demo_copy.warehouse_path, read_only=True) as con:
        series = demand_io.read_series(con)
    assert not series.loc[series["drug_id"] == ALBUTEROL, "in_shortage"].any()


# --- the flu signal, only as published ---------------------------------------------------------------------------

@pytest.mark.parametrize(("as_of", "lag_days", "latest_week_start"), [
    (date(2026, 11, 22), 6, date(2026, 11, 9)),  # Sunday: the week that ended Saturday 11-21 is out on 11-27
    (date(2026, 11, 20), 6, date(2026, 11, 9)),  # Friday: the week ending 11-14 is published that day
    (date(2026, 11, 19), 6, date(2026, 11, 2)),  # Thursday: not yet
    (date(2026, 11, 22), 0, date(2026, 11, 16)),  # no lag: the week that ended the day before
])
def test_a_signal_week_is_available_its_publication_lag_after_it_ends(as_of, lag_days, latest_week_start):
    assert last_published_week_start(as_of, lag_days) == latest_week_start


def test_the_default_lag_keeps_a_sunday_run_from_the_week_that_ended_the_day_before():
    lag_days = SignalLink(name="ilinet").publication_lag_days
    sunday = date(2026, 11, 22)
    ended_saturday_stored_monday = sunday - timedelta(days=6)
    assert last_published_week_start(sunday, lag_days) < ended_saturday_stored_monday


def _last_signal_week(signals: dict[str, dict[int, float]]) -> date:
    last = max(max(values) for values in signals.values())
    return calendar.EPOCH_MONDAY + timedelta(weeks=last)


def test_the_run_reads_the_signal_only_as_published_by_its_as_of(demo_copy):
    pipeline.build_demand(demo_copy, LATE_MAY)
    with open_warehouse(demo_copy.warehouse_path, read_only=True) as con:
        loaded = read_signals(con)["ilinet"]
        as_forecast_reads = pipeline.signals_by_drug(con, demo_copy)  # as pipeline.forecast calls it
        at_as_of = pipeline.signals_by_drug(con, demo_copy, LATE_MAY)
    assert loaded.index.max() > pd.Timestamp(LATE_MAY)  # the warehouse holds later weeks
    assert as_forecast_reads and _last_signal_week(as_forecast_reads) == date(2026, 5, 11)
    assert at_as_of == as_forecast_reads


# --- the replay: each week sees shortages and the signal as of that week -----------------------------------------

def test_each_replay_week_sees_only_the_shortages_posted_and_the_signal_weeks_published_by_then(
        demo_copy, monkeypatch):
    _post_shortage(demo_copy, ALBUTEROL, date(2026, 11, 12))  # between the two reviews' as-ofs (11-08, 11-15)
    seen, forecast_panel = [], replay.forecast_panel

    def forecast_panel_seen(panel, window, as_of, settings, signals, *args, **kwargs):
        """The replay's own forecast, recording what each review passed it."""
        seen.append((as_of, window, signals))
        return forecast_panel(panel, window, as_of, settings, signals, *args, **kwargs)

    monkeypatch.setattr(replay, "forecast_panel", forecast_panel_seen)
    pipeline.replay(demo_copy, date(2026, 11, 9), date(2026, 11, 22))
    with open_warehouse(demo_copy.warehouse_path, read_only=True) as con:
        keys = demand_io.read_series(con)[["location_id", "drug_id"]]
    albuterol = (keys["drug_id"] == ALBUTEROL).to_numpy()
    (first_as_of, first, first_signals), (second_as_of, second, second_signals) = seen
    assert (first_as_of, second_as_of) == (date(2026, 11, 8), date(2026, 11, 15))
    extra_days = demo_copy.policy.shortage.extra_lead_time_days
    assert albuterol.any()
    assert (second.lead_time_days[albuterol] - first.lead_time_days[albuterol] == extra_days).all()
    assert (second.lead_time_days[~albuterol] == first.lead_time_days[~albuterol]).all()
    assert (np.asarray(second.service_level)[albuterol] >= demo_copy.policy.shortage.service_level).all()
    assert _last_signal_week(first_signals) == date(2026, 10, 26)
    assert _last_signal_week(second_signals) == date(2026, 11, 2)
