"""Demand series built in SQL: buckets, zero-fill, returns, the as-of boundary."""

from datetime import date

import numpy as np
import pytest

from turnover import schema
from turnover.io.demand import build_demand_series, read_demand_panel
from turnover.io.warehouse import connect
from turnover.settings import PolicySettings


@pytest.fixture
def con(tmp_path):
    connection = connect(tmp_path / "w.duckdb")
    rows = [  # (day, location, drug, quantity)
        ("2026-11-02 09:00", "S1", "D1", 10),   # Monday, week of 11-02
        ("2026-11-08 18:00", "S1", "D1", 5),    # Sunday, same week
        ("2026-11-10 10:00", "S1", "D1", 7),    # week of 11-09
        ("2026-11-12 10:00", "S1", "D1", -2),   # a return, same week
        ("2026-11-24 10:00", "S1", "D1", 100),  # week of 11-23: after a Sunday as-of, or partial
        ("2026-11-20 10:00", "S1", "D2", 3),    # D2 starts in the week of 11-16
        ("2026-11-21 10:00", "S1", "D2", -5),   # returns exceed dispensing that week
    ]
    for i, (when, loc, drug, qty) in enumerate(rows):
        connection.execute(f"insert into {schema.DISPENSING} values (1, ?, ?, ?, ?, ?, null, null)",
                           [i + 2, when, loc, drug, qty])
    yield connection
    connection.close()


def series(con, drug):
    return con.execute(f"select period_start::varchar, units, units_net from {schema.DEMAND_SERIES} "
                       "where drug_id = ? order by period_start", [drug]).fetchall()


def test_weekly_buckets_start_monday_are_zero_filled_and_net_returns(con):
    build_demand_series(con, date(2026, 11, 22), "week", PolicySettings())
    assert series(con, "D1") == [("2026-11-02", 15.0, 15.0), ("2026-11-09", 5.0, 5.0), ("2026-11-16", 0.0, 0.0)]
    # Returns beyond dispensing net to zero demand; the signed sum is kept.
    assert series(con, "D2") == [("2026-11-16", 0.0, -2.0)]


def test_nothing_after_the_as_of_date_is_used_and_a_partial_week_is_not_history(con):
    build_demand_series(con, date(2026, 11, 25), "week", PolicySettings())  # a Wednesday
    assert [row[0] for row in series(con, "D1")][-1] == "2026-11-16"
    build_demand_series(con, date(2026, 11, 10), "week", PolicySettings())  # the as-of day is included
    assert series(con, "D1") == [("2026-11-02", 15.0, 15.0)]


def test_bucketing_preserves_the_net_total_of_complete_buckets(con):
    build_demand_series(con, date(2026, 11, 29), "week", PolicySettings())
    total = con.execute(f"select sum(units_net) from {schema.DEMAND_SERIES}").fetchone()[0]
    assert total == pytest.approx(10 + 5 + 7 - 2 + 100 + 3 - 5)


def test_monthly_buckets_are_an_option(con):
    build_demand_series(con, date(2026, 11, 30), "month", PolicySettings())
    assert series(con, "D1") == [("2026-11-01", 120.0, 120.0)]
    build_demand_series(con, date(2026, 11, 29), "month", PolicySettings())  # November not complete
    assert series(con, "D1") == []


def test_the_panel_lists_every_series_including_those_without_history(con):
    con.execute(f"insert into {schema.ON_HAND} values ('S2', 'D9', 4, 0)")
    n = build_demand_series(con, date(2026, 11, 22), "week", PolicySettings())
    panel = read_demand_panel(con)
    assert n == len(panel) == 3
    assert [len(panel.history(i)) for i in range(3)] == [3, 1, 0]
    assert panel.keys.iloc[2].tolist() == ["S2", "D9"]


def test_a_fully_censored_week_keeps_every_later_series_aligned(con):
    # D1 at S1 out of stock for the whole week of 11-09: that week is NaN, and D2's slice must still be D2's.
    con.execute(f"insert into {schema.STOCKOUTS} values ('S1', 'D1', '2026-11-09', '2026-11-15')")
    build_demand_series(con, date(2026, 11, 22), "week", PolicySettings())
    panel = read_demand_panel(con)
    assert panel.offsets[-1] == len(panel.units)
    d1, d2 = panel.history(0), panel.history(1)
    assert len(d1) == 3 and np.isnan(d1[1]) and d1[0] == 15.0
    assert d2.tolist() == [0.0]
