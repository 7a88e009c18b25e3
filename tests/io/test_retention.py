"""The retention policy (turnover.io.retention): a year of weekly runs leaves the per-series tables
of the recent runs (and of the latest run and the selection it reuses), every run's record, and old scores
compacted into sums that give the same accuracy figures."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from turnover import schema
from turnover.io import retention
from turnover.io import tracking as tracking_io
from turnover.io.warehouse import connect
from turnover.reporting import tracking

FIRST = date(2025, 11, 16)
WEEKS = 40


def year_of_runs():
    """A warehouse with ``WEEKS`` weekly runs: each with par levels, a forecast, a selection (a full selection
    every fourth run) and scores of its periods."""
    rng = np.random.default_rng(3)
    con = connect(":memory:")
    for k in range(WEEKS):
        run_id, as_of = f"r{k:02d}", FIRST + timedelta(weeks=k)
        con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, finished_at, status) values "
                    "(?, ?, 'week', now(), now() + interval (?) second, 'completed')", [run_id, as_of, k])
        selected = f"r{k - k % 4:02d}"
        for drug in ("D1", "D2"):
            con.execute(f"insert into {schema.PAR_LEVELS} (run_id, location_id, drug_id, reorder_point_units, "
                        "par_level_units, on_hand_units, on_order_units, order_units, order_packs, pack_size_units, "
                        "service_level, lead_time_days, review_period_days, forecast_units_next_4_periods, "
                        "history_periods, model, reason) values (?, 'S1', ?, 1, 2, 0, 0, 2, 1, 1, 0.95, 2, 7, 4, 100, "
                        "'tsb', 'r')", [run_id, drug])
            con.execute(f"insert into {schema.MODEL_SELECTION} values (?, 'S1', ?, 'tsb', 'b', true, ?, ?)",
                        [run_id, drug, selected, FIRST + timedelta(weeks=k - k % 4)])
            for h in range(1, 4):
                period = as_of + timedelta(days=1 + 7 * (h - 1))
                mean, actual = rng.uniform(1, 9), float(rng.poisson(5))
                con.execute(f"insert into {schema.FORECAST} values (?, 'S1', ?, ?, ?, ?, ?, ?, ?, ?, 'tsb')",
                            [run_id, drug, period, mean, mean, mean * 1.3, mean * 1.5, mean * 1.7, mean * 2.2])
                con.execute(f"insert into {schema.FORECAST_ACCURACY} values (?, ?, 'S1', ?, ?, ?, 'tsb', ?, ?, ?, ?, "
                            "?, ?, ?, ?, ?, ?, 'x', now())",
                            [run_id, as_of, drug, period, h, "smooth" if drug == "D1" else "lumpy", actual, mean, mean,
                             mean * 1.3, mean * 1.5, mean * 1.7, mean * 2.2, abs(actual - mean), abs(actual - mean) / 3])
    return con


def test_old_runs_lose_their_per_series_tables_but_not_their_record_nor_what_the_next_run_reads():
    con = year_of_runs()
    as_of = FIRST + timedelta(weeks=WEEKS - 1)
    # the latest run (r39) reuses r36's selection; r36 is recent anyway: protect an old one to see it kept
    con.execute(f"update {schema.MODEL_SELECTION} set selected_run_id = 'r02' where run_id = 'r39'")
    deleted = retention.apply(con, as_of, "week", detail_days=120, scores_days=0)
    with_detail = set(retention.runs_with_detail(con)["run_id"])
    recent = {f"r{k:02d}" for k in range(WEEKS) if FIRST + timedelta(weeks=k) >= as_of - timedelta(days=120)}
    assert with_detail == recent | {"r02"}
    assert deleted["runs_thinned"] == WEEKS - len(recent) - 1
    assert con.execute(f"select count(*) from {schema.RUNS}").fetchone()[0] == WEEKS
    assert con.execute(f"select count(distinct run_id) from {schema.DEMAND_CLASS}").fetchone()[0] == 0  # none written
    assert con.execute(f"select count(distinct run_id) from {schema.PAR_LEVELS}").fetchone()[0] == len(recent) + 1
    # the selections stay while the scores a drift flag reads do (scores_days 0: all of them)
    assert con.execute(f"select count(distinct run_id) from {schema.MODEL_SELECTION}").fetchone()[0] == WEEKS
    # A thinned run keeps only its forecast of periods not complete yet: a later run scores them.
    complete = as_of - timedelta(days=6)  # the last complete week's Monday
    kept = con.execute(f"select run_id, max(period_start) <= ?, count(*) from {schema.FORECAST} "
                       "where run_id not in (select unnest(?::varchar[])) group by 1", [complete, sorted(with_detail)]
                       ).fetchall()
    assert kept == [] or all(not done for _, done, _ in kept)
    assert con.execute(f"select count(*) from {schema.FORECAST} f where period_start <= ? and run_id not in "
                       "(select unnest(?::varchar[]))", [complete, sorted(with_detail)]).fetchone()[0] == 0
    # Again: nothing more goes.
    assert retention.apply(con, as_of, "week", detail_days=120, scores_days=0) == {"runs_thinned": 0}


def test_compacted_scores_give_the_accuracy_of_the_rows_they_replace():
    con = year_of_runs()
    as_of = FIRST + timedelta(weeks=WEEKS - 1)
    before = tracking_io.read_scores(con)
    cutoff = retention.scores_cutoff(as_of, 182)
    old = before[before["period_start"] < pd.Timestamp(cutoff)]
    deleted = retention.apply(con, as_of, "week", detail_days=0, scores_days=182)
    assert deleted[schema.FORECAST_ACCURACY] == len(old) > 0
    assert len(tracking_io.read_scores(con)) == len(before) - len(old)
    summary = con.execute(f"select * from {schema.ACCURACY_SUMMARY}").df()
    for by in (["model"], ["demand_class"], ["horizon_periods"], ["forecast_run_id", "demand_class"]):
        expected = tracking.accuracy(old, by).sort_values(by, ignore_index=True)
        got = tracking.summary_accuracy(summary, by).sort_values(by, ignore_index=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_zero_keeps_everything():
    con = year_of_runs()
    assert retention.apply(con, FIRST + timedelta(weeks=WEEKS), "week", 0, 0) == {"runs_thinned": 0}
    assert len(retention.runs_with_detail(con)) == WEEKS


def test_a_thinned_run_keeps_its_forecast_of_the_periods_not_complete_yet():
    con = year_of_runs()
    as_of = FIRST + timedelta(weeks=WEEKS - 1)
    retention.apply(con, as_of, "week", detail_days=7, scores_days=0)  # r37 (two weeks back) is thinned
    assert "r37" not in set(retention.runs_with_detail(con)["run_id"])
    periods = [p for (p,) in con.execute(f"select distinct period_start from {schema.FORECAST} where run_id = 'r37' "
                                         "order by 1").fetchall()]
    assert periods == [as_of + timedelta(days=1)]  # its third week, not complete on as_of; the first two are scored


def test_superseded_scores_are_compacted_after_the_detail_window_and_what_drift_reads_stays():
    # Each week is scored by three forecasts (horizons 1-3); a drift flag reads the shortest horizon per row.
    con = year_of_runs()
    as_of = FIRST + timedelta(weeks=WEEKS - 1)
    before = tracking_io.read_scores(con)
    drift_reads = tracking.latest_forecast_per_period(before)
    detail = as_of - timedelta(days=28)
    superseded = before[(before["period_start"] < pd.Timestamp(detail))
                        & ~before.index.isin(drift_reads.index)]
    deleted = retention.apply(con, as_of, "week", detail_days=28, scores_days=0)
    assert deleted[schema.FORECAST_ACCURACY] == len(superseded) > 0
    after = tracking_io.read_scores(con)
    # every period keeps its shortest-horizon score; recent periods keep all of theirs
    key = ["forecast_run_id", "location_id", "drug_id", "period_start"]
    pd.testing.assert_frame_equal(tracking.latest_forecast_per_period(after).reset_index(drop=True),
                                  drift_reads.reset_index(drop=True))
    recent = before[before["period_start"] >= pd.Timestamp(detail)]
    assert len(recent.merge(after, on=key)) == len(recent)
    # the kept rows and the summary together give the accuracy of every row before
    summary = con.execute(f"select * from {schema.ACCURACY_SUMMARY}").df()
    for by in (["horizon_periods"], ["forecast_run_id", "demand_class"]):
        expected = tracking.accuracy(superseded, by).sort_values(by, ignore_index=True)
        got = tracking.summary_accuracy(summary, by).sort_values(by, ignore_index=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert retention.apply(con, as_of, "week", detail_days=28, scores_days=0) == {"runs_thinned": 0}


def test_scores_a_monthly_drift_flag_reads_are_kept_beyond_scores_days():
    as_of = date(2026, 11, 30)
    assert retention.scores_cutoff(as_of, 91, "week", 8) == as_of - timedelta(days=91)  # 8 weeks are within 91 days
    assert retention.scores_cutoff(as_of, 91, "month", 8) == date(2026, 4, 1)  # April to November (complete)
    assert retention.scores_cutoff(as_of, 0, "month", 8) is None


def with_backtests(con):
    """``year_of_runs`` with each full selection's (every fourth run's) chosen backtest scores: MASE = its week."""
    for k in range(0, WEEKS, 4):
        for drug in ("D1", "D2"):
            con.execute(f"insert into {schema.BACKTEST_SCORES} (run_id, location_id, drug_id, model, train_periods, "
                        "mase, scaled_pinball, coverage_q95, chosen) values (?, 'S1', ?, 'tsb', 100, ?, 1, 1, true)",
                        [f"r{k:02d}", drug, float(k)])
    return con


def test_a_weekly_refit_s_forecasts_are_compared_with_the_backtest_of_the_selection_it_reused():
    # r05 refitted r04's choices (no backtest of its own): its drift is judged against r04's backtest MASE.
    con = with_backtests(year_of_runs())
    series = pd.DataFrame({"forecast_run_id": ["r04", "r05", "r07", "r08"], "location_id": "S1", "drug_id": "D1"})
    got = tracking_io.read_backtest_mase(con, series).sort_values("forecast_run_id", ignore_index=True)
    assert got["forecast_run_id"].tolist() == ["r04", "r05", "r07", "r08"]
    assert got["backtest_mase"].tolist() == [4.0, 4.0, 4.0, 8.0]


def test_old_selections_and_backtests_go_once_nothing_scored_or_kept_points_to_them():
    con = with_backtests(year_of_runs())
    as_of = FIRST + timedelta(weeks=WEEKS - 1)
    cutoff = retention.scores_cutoff(as_of, 91, "week", 8)
    retention.apply(con, as_of, "week", detail_days=28, scores_days=91, drift_window_periods=8)
    selections = dict(con.execute(f"select run_id, min(selected_run_id) from {schema.MODEL_SELECTION} group by 1")
                      .fetchall())
    # a run keeps its selection while it has forecast periods to score; or while its as-of is within the window
    with_forecast = {r for (r,) in con.execute(f"select distinct run_id from {schema.FORECAST}").fetchall()}
    for k in range(WEEKS):
        run_id = f"r{k:02d}"
        assert (run_id in selections) == (run_id in with_forecast or FIRST + timedelta(weeks=k) >= cutoff)
    # the chosen backtest scores every kept selection points to are there
    backtests = {r for (r,) in con.execute(f"select distinct run_id from {schema.BACKTEST_SCORES}").fetchall()}
    assert set(selections.values()) <= backtests
    assert "r00" not in backtests  # nothing points to it any more
    mase = tracking_io.read_backtest_mase(con, pd.DataFrame(
        {"forecast_run_id": sorted(selections), "location_id": "S1", "drug_id": "D1"}))
    assert sorted(mase["forecast_run_id"]) == sorted(selections) and mase["backtest_mase"].notna().all()


# --- The file: DuckDB never shrinks it; a compaction rewrites it without its free space. ---------------------------
def warehouse_with_deletes(path):
    """A warehouse file holding many par-level rows of which most were then deleted, as retention does."""
    con = connect(path)
    con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status) values "
                "('kept', date '2026-11-29', 'week', now(), 'completed')")
    con.execute(f"""insert into {schema.PAR_LEVELS} (run_id, location_id, drug_id, reorder_point_units, par_level_units,
        on_hand_units, on_order_units, order_units, order_packs, pack_size_units, service_level, lead_time_days,
        review_period_days, forecast_units_next_4_periods, history_periods, model, reason)
        select 'r' || (i % 50), 'S' || (i % 7), 'D' || i, i, i + 1, 0, 0, 1, 1, 1, 0.95, 2, 7, 4, 100, 'tsb',
               'reason ' || i from range(300000) t(i)""")
    con.execute(f"delete from {schema.PAR_LEVELS} where run_id <> 'r7'")
    con.execute("checkpoint")
    return con


def contents(con) -> dict[str, int]:
    tables = con.execute("select schema_name || '.' || table_name from duckdb_tables() where not temporary").fetchall()
    return {t: con.execute(f"select count(*), sum(hash(x)) from {t} as x").fetchone() for (t,) in tables}


def test_a_compaction_gives_the_freed_space_back_and_keeps_every_row(tmp_path):
    path = tmp_path / "w.duckdb"
    con = warehouse_with_deletes(path)
    before_rows = contents(con)
    constraints = con.execute("select count(*) from duckdb_constraints()").fetchone()
    con.close()
    before, after = retention.compact(path)
    assert after < before / 2 and after == path.stat().st_size
    assert not path.with_name(path.name + retention.COMPACT_SUFFIX).exists()
    con = connect(path)  # a warehouse like any other: opened for writing, its rows and constraints the same
    assert contents(con) == before_rows
    assert con.execute("select count(*) from duckdb_constraints()").fetchone() == constraints
    con.execute(f"insert into {schema.RUNS} (run_id, as_of, period, started_at, status) values "
                "('next', date '2026-12-06', 'week', now(), 'running')")
    con.close()


def test_a_compaction_that_fails_leaves_the_warehouse_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    warehouse_with_deletes(path).close()
    leftover = path.with_name(path.name + retention.COMPACT_SUFFIX)
    leftover.write_bytes(b"half a file a killed compaction left")
    original = path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt  # killed between the copy and the rename

    monkeypatch.setattr(retention.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        retention.compact(path)
    assert path.read_bytes() == original and not leftover.exists()
    monkeypatch.undo()
    retention.compact(path)  # and the next one goes through
    assert path.stat().st_size < len(original)


def test_the_run_rewrites_the_file_once_it_has_grown_by_the_share_set_since_its_last_rewrite(tmp_path):
    from turnover import pipeline
    from turnover.settings import Settings

    path = tmp_path / "w.duckdb"
    warehouse_with_deletes(path).close()
    size = path.stat().st_size
    assert "file_bytes_after" not in pipeline.apply_retention(Settings(warehouse_path=path, retention={"compact_growth": 0}),
                                                              date(2026, 12, 6))
    with connect(path) as con:
        assert con.execute(f"select count(*) from {schema.WAREHOUSE_FILE}").fetchone() == (0,)  # 0: nothing done
    first = pipeline.apply_retention(Settings(warehouse_path=path), date(2026, 12, 6))
    assert "file_bytes_after" not in first and path.stat().st_size >= size  # the size to grow from, recorded
    again = pipeline.apply_retention(Settings(warehouse_path=path), date(2026, 12, 6))
    assert "file_bytes_after" not in again  # not grown since
    with connect(path) as con:  # as if the file had been a third of its size when last rewritten
        con.execute(f"update {schema.WAREHOUSE_FILE} set bytes_after = bytes_after // 3")
    grown = path.stat().st_size
    done = pipeline.apply_retention(Settings(warehouse_path=path), date(2026, 12, 6))
    assert done["file_bytes_before"] == grown and done["file_bytes_after"] < grown / 2
    with connect(path) as con:
        last = con.execute(f"select bytes_before, bytes_after from {schema.WAREHOUSE_FILE} order by recorded_at desc "
                           "limit 1").fetchone()
    assert last == (grown, done["file_bytes_after"])
