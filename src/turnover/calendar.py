"""Period arithmetic: buckets (ISO weeks starting Monday, calendar months) and day windows.

A run with as-of date D uses dispensing up to and including D. Its history ends with the last
bucket that is complete at D, and its forecast starts with the next bucket: an as-of Sunday's first
forecast week is the following Monday; an as-of month-end's first forecast month is the next month.
A bucket that D falls inside (not its last day) is partial: it is neither history nor skipped; it is
the first forecast period, and only the days after D count towards lead-time demand.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from turnover.settings import DAYS_PER_PERIOD, Period  # noqa: F401  (DAYS_PER_PERIOD: read as calendar.DAYS_PER_PERIOD)

SEASON_LENGTH = {"week": 52, "month": 12}


def period_start(day: date, period: Period) -> date:
    """Start of the bucket that contains ``day`` (Monday of its ISO week, or the 1st of its month)."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


EPOCH_MONDAY = date(1970, 1, 5)


def period_index(start: date, period: Period) -> int:
    """Absolute index of the bucket starting ``start``: weeks since 1970-01-05, or months since year 0.

    Yearly profiles fitted on absolute indices share their phase across series of any start date.
    """
    if period == "week":
        return (start - EPOCH_MONDAY).days // 7
    return start.year * 12 + start.month - 1


def add_periods(start: date, n: int, period: Period) -> date:
    """The bucket start ``n`` buckets after ``start`` (``start`` must be a bucket start)."""
    if period == "week":
        return start + timedelta(weeks=n)
    months = start.year * 12 + start.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


def last_sunday(today: date | None = None) -> date:
    """The Sunday before ``today`` (default: the machine's date): the last day of a complete ISO week."""
    today = today or date.today()
    return today - timedelta(days=today.weekday() + 1)


def first_forecast_start(as_of: date, period: Period) -> date:
    """Start of the first forecast bucket: the bucket after the last one complete at ``as_of``.

    That is the bucket containing ``as_of + 1 day``: the next one when ``as_of`` ends a bucket, the
    (partial) one containing ``as_of`` otherwise.
    """
    return period_start(as_of + timedelta(days=1), period)


def last_history_start(as_of: date, period: Period) -> date:
    """Start of the last complete bucket at ``as_of``."""
    return add_periods(first_forecast_start(as_of, period), -1, period)


def forecast_period_starts(as_of: date, period: Period, horizon: int) -> list[date]:
    """Starts of the ``horizon`` forecast buckets."""
    first = first_forecast_start(as_of, period)
    return [add_periods(first, i, period) for i in range(horizon)]


def review_windows(as_of: date, period: Period, n: int) -> list[tuple[int, int]]:
    """The par calendar's ``n`` review days after ``as_of``, as (days after ``as_of + 1``, days until the next).

    Weekly: every 7 days from the day after ``as_of``. Monthly: the day after ``as_of``, then the first of
    each following month (a month's row covers that month).
    """
    if period == "week":
        return [(7 * k, 7) for k in range(n)]
    day_after = as_of + timedelta(days=1)
    first = first_forecast_start(as_of, period)
    starts = [day_after, *(add_periods(first, k, period) for k in range(1, n + 1))]
    return [((a - day_after).days, (b - a).days) for a, b in zip(starts[:-1], starts[1:], strict=True)]


def window_weights(starts: list[date], period: Period, window_start: date, window_days: int) -> np.ndarray:
    """Share of each bucket's days inside ``[window_start, window_start + window_days)``.

    Demand is taken as spread evenly over a bucket's days, so the demand over a window is
    ``paths @ weights``. A window running past the last bucket is truncated: callers size the
    horizon to cover it (:func:`periods_to_cover`).
    """
    bounds = pd.to_datetime([*starts, add_periods(starts[-1], 1, period)]).values.astype("datetime64[D]")
    lo = np.datetime64(window_start, "D")
    hi = lo + np.timedelta64(window_days, "D")
    begin, end = bounds[:-1], bounds[1:]
    overlap = (np.minimum(end, hi) - np.maximum(begin, lo)).astype(float)
    return np.clip(overlap, 0, None) / (end - begin).astype(float)


def periods_to_cover(as_of: date, period: Period, days_after_as_of: int) -> int:
    """Buckets from the first forecast bucket through ``as_of + days_after_as_of``."""
    first = first_forecast_start(as_of, period)
    last_day = as_of + timedelta(days=max(days_after_as_of, 1))
    n = 1
    while add_periods(first, n, period) <= last_day:
        n += 1
    return n
