"""What an external weekly signal (ILINet) says as of a date: only the weeks published by then (no look-ahead).

Signals are stored by ``io.signals`` under the ISO week (Monday start) that shares six of its seven days with the
MMWR week (Sunday to Saturday). A week is published ``publication_lag_days`` after the Saturday it ends (FluView:
the Friday after, 6 days), so a run or a replay week never reads a week not yet out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from turnover import calendar

#: Days from the Monday a week is stored under to the Saturday its MMWR week ends.
STORED_START_TO_MMWR_END_DAYS = 5
SATURDAY = 5


@dataclass(frozen=True)
class LinkedSignal:
    """A drug's signal: every loaded week's value by absolute week index (``calendar.period_index`` of the
    stored Monday), and the days after a week ends before it is published."""

    values_by_week: dict[int, float]
    publication_lag_days: int


def last_published_week_start(as_of: date, publication_lag_days: int) -> date:
    """The stored (Monday) start of the latest week published by ``as_of``: an MMWR week ending Saturday ``e``
    is published on ``e + publication_lag_days``. With the FluView lag of 6, a Sunday run's latest week is
    the one that ended 8 days before (published the Friday before the run)."""
    latest_end = as_of - timedelta(days=publication_lag_days)
    saturday = latest_end - timedelta(days=(latest_end.weekday() - SATURDAY) % 7)
    return saturday - timedelta(days=STORED_START_TO_MMWR_END_DAYS)


def published_by(signals: dict[str, LinkedSignal], as_of: date) -> dict[str, dict[int, float]]:
    """Each drug's signal values by week index, only the weeks published by ``as_of``."""
    out = {}
    for drug_id, signal in signals.items():
        last = calendar.period_index(last_published_week_start(as_of, signal.publication_lag_days), "week")
        out[drug_id] = {week: value for week, value in signal.values_by_week.items() if week <= last}
    return out
