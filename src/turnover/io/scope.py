"""What a run is about: the locations its history files dispense at, the days the warehouse holds there, and
the demand series kept to those locations.

A warehouse may hold more than one run's data: another pharmacy loaded into the same file, or a location that
has closed. A run plans the locations of the history files it was given, or, given none, every location that
dispensed in the year before its as-of date; the others stay in the warehouse, unplanned.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

from turnover import schema


def file_locations(con: duckdb.DuckDBPyConnection, file_sha256s: list[str]) -> list[str]:
    """The locations the loaded files (by hash) dispense at, sorted."""
    rows = con.execute(f"select distinct location_id from {schema.DISPENSING} where file_id in (select file_id from "
                       f"{schema.LOADED_FILES} where list_contains($files, file_sha256)) order by location_id",
                       {"files": file_sha256s}).fetchall()
    return [row[0] for row in rows]


def active_locations(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int) -> list[str]:
    """The locations with dispensing in the ``window_days`` up to ``as_of``, sorted."""
    rows = con.execute(f"select distinct location_id from {schema.DISPENSING} "
                       "where cast(dispensed_at as date) between $first and $as_of order by location_id",
                       {"first": as_of - timedelta(days=window_days - 1), "as_of": as_of}).fetchall()
    return [row[0] for row in rows]


def all_locations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every location with dispensing in the warehouse, sorted."""
    return [row[0] for row in con.execute(
        f"select distinct location_id from {schema.DISPENSING} order by location_id").fetchall()]


def dispensing_days(con: duckdb.DuckDBPyConnection, locations: list[str] | None = None,
                    today: date | None = None) -> tuple[date, date] | None:
    """The first and last dispensing day loaded (at ``locations``, default all; the last never after ``today``),
    or None when nothing is."""
    first, last = con.execute(
        f"select min(cast(dispensed_at as date)), max(cast(dispensed_at as date)) from {schema.DISPENSING} "
        "where ($locations is null or list_contains($locations, location_id)) and cast(dispensed_at as date) <= $today",
        {"locations": locations, "today": today or date.today()}).fetchone()
    return None if first is None else (first, last)


def keep_locations(con: duckdb.DuckDBPyConnection, locations: list[str]) -> int:
    """Drop the demand series of other locations from the staging tables; returns the series kept."""
    for table in (schema.DEMAND_SERIES, schema.SERIES):
        con.execute(f"delete from {table} where not list_contains($locations, location_id)", {"locations": locations})
    return con.execute(f"select count(*) from {schema.SERIES}").fetchone()[0]


class AsOfError(ValueError):
    """The as-of date is outside the dispensing the warehouse holds (a typo, or the wrong warehouse)."""


def check_as_of(as_of: date | None, days: tuple[date, date] | None, warehouse: str | Path, after_days: int) -> date:
    """``as_of``, or the last dispensing day when it is None, checked against ``days`` (first, last) held.

    An as-of up to ``after_days`` after the last day is a run for a period that ended with the data (a Monday
    run for the week to Sunday); later, or before the first day, is refused.

    Raises:
        AsOfError: nothing is held, or ``as_of`` is outside first .. last + ``after_days``.
    """
    if days is None:
        given = f"--as-of {as_of} given, but " if as_of else ""
        raise AsOfError(f"{given}no dispensing loaded in {warehouse}: give --history files (or --demo)")
    first, last = days
    held = f"the warehouse holds {first} .. {last}"
    if as_of is None:
        return last
    if as_of < first:
        raise AsOfError(f"--as-of {as_of} is before the first dispensing day in {warehouse} ({first}); {held}")
    if as_of > last + timedelta(days=after_days):
        raise AsOfError(f"--as-of {as_of} is after the last dispensing day in {warehouse} ({last}) by more than "
                        f"{after_days} days (forecast.max_days_after_last_dispensing); {held}")
    return as_of
