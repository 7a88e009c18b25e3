"""Buckets, the first forecast period, and day windows over buckets."""

from datetime import date, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from turnover import calendar


def test_an_as_of_sunday_forecasts_from_the_next_monday():
    sunday = date(2026, 11, 22)
    assert calendar.first_forecast_start(sunday, "week") == date(2026, 11, 23)
    assert calendar.last_history_start(sunday, "week") == date(2026, 11, 16)


def test_a_mid_week_as_of_leaves_the_partial_week_out_of_history():
    wednesday = date(2026, 11, 25)
    assert calendar.last_history_start(wednesday, "week") == date(2026, 11, 16)
    assert calendar.first_forecast_start(wednesday, "week") == date(2026, 11, 23)


def test_an_as_of_month_end_forecasts_from_the_next_month_and_mid_month_is_partial():
    assert calendar.first_forecast_start(date(2026, 11, 30), "month") == date(2026, 12, 1)
    assert calendar.last_history_start(date(2026, 11, 30), "month") == date(2026, 11, 1)
    assert calendar.last_history_start(date(2026, 11, 29), "month") == date(2026, 10, 1)


def test_window_weights_count_only_days_after_the_as_of_date():
    starts = calendar.forecast_period_starts(date(2026, 11, 25), "week", 3)  # Wednesday
    weights = calendar.window_weights(starts, "week", date(2026, 11, 26), 9)
    # A 9-day window from Thursday: Thu-Sun of the partial week (4/7), Mon-Fri of the next (5/7).
    np.testing.assert_allclose(weights, [4 / 7, 5 / 7, 0])


def test_monthly_window_weights_use_each_months_own_length():
    starts = calendar.forecast_period_starts(date(2026, 1, 31), "month", 2)
    weights = calendar.window_weights(starts, "month", date(2026, 2, 1), 31)
    np.testing.assert_allclose(weights, [1.0, 3 / 31])  # all of February (28 d), 3 days of March


@given(
    as_of=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 1, 1)),
    days=st.integers(min_value=1, max_value=120),
    period=st.sampled_from(["week", "month"]),
)
def test_window_weights_cover_exactly_the_window_when_the_horizon_reaches_it(as_of, days, period):
    n = calendar.periods_to_cover(as_of, period, days)
    starts = calendar.forecast_period_starts(as_of, period, n)
    weights = calendar.window_weights(starts, period, as_of + timedelta(days=1), days)
    lengths = np.array([(calendar.add_periods(s, 1, period) - s).days for s in starts])
    assert np.isclose((weights * lengths).sum(), days)


def test_a_monthly_par_calendar_reviews_on_the_day_after_as_of_then_each_first_of_the_month():
    assert calendar.review_windows(date(2026, 1, 31), "month", 3) == [(0, 28), (28, 31), (59, 30)]
    assert calendar.review_windows(date(2026, 1, 15), "month", 2) == [(0, 16), (16, 28)]  # the rest of January first
    assert calendar.review_windows(date(2026, 1, 4), "week", 3) == [(0, 7), (7, 7), (14, 7)]
