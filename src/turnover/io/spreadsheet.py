"""The spreadsheet-safe CSV layout purchasing opens (and the report's text), as writers of one file each.

Text a spreadsheet would run as a formula is neutralised, numbers are written as a buyer reads them (whole
units as integers), and a frame split by a column is formatted once. Writing the files to disk is
``turnover.io.files``; publishing a run's set, ``turnover.io.publish``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from turnover import schema
from turnover.io import csv_rows

# Spreadsheets run a cell starting with one of these as a formula (CSV injection, OWASP), also after blanks
# or line breaks, and after the fullwidth forms NFKC folds into them (＝ ＋ － ＠).
FORMULA_STARTS = ("=", "+", "-", "@")


def _text_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns
            if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype | pd.CategoricalDtype)]


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed with ``'`` so they stay text.

    Only text columns: numbers (a negative order, a return) stay numbers. Each distinct value is looked at
    once (ids, models and classes repeat down a column of a million rows); ``frame`` is left as it is.
    """
    out = frame.copy(deep=False)  # text columns are replaced whole, never written into
    for column in _text_columns(out):
        values = out[column].astype(object).to_numpy()
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        safe = [v if _starts_alphanumeric(v) else _neutralised(v) for v in uniques]
        changed = np.array([a is not b for a, b in zip(safe, uniques, strict=True)] + [False], dtype=bool)
        if not changed.any() and out[column].dtype == object:
            continue  # nothing to neutralise: the column as it is
        values = values.copy()
        at = np.flatnonzero(changed[codes])  # code -1 (missing) reads the trailing False
        values[at] = [safe[c] for c in codes[at]]
        out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def _starts_alphanumeric(value) -> bool:
    """Whether ``value`` is text starting with an ASCII letter or digit: NFKC keeps such a character first
    (composed at most with the marks after it), so the text never runs as a formula (:func:`runs_as_formula`)."""
    return isinstance(value, str) and value[:1].isascii() and value[:1].isalnum()


def _neutralised(value):
    return "'" + value if isinstance(value, str) and runs_as_formula(value) else value


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet could run ``text`` as a formula: NFKC-normalised, its first character after any
    blanks and line breaks is ``=``, ``+``, ``-`` or ``@``, or those blanks hold a tab or a carriage return."""
    text = unicodedata.normalize("NFKC", text)
    start = len(text) - len(text.lstrip())
    return "\t" in text[:start] or "\r" in text[:start] or text[start:start + 1] in FORMULA_STARTS


#: A count within this of a whole number is written as that integer (float noise such as 30.000000000000004).
WHOLE_TOLERANCE = 1e-6


def csv_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its numbers as the CSVs write them: counts of whole units as integers
    (``schema.CSV_COUNT_COLUMNS`` and the par calendar's week columns), estimates and money rounded
    (``schema.CSV_DECIMALS``; 0 decimals as integers). Missing and infinite values are left empty; a count
    holding a fraction (half a tablet in the inputs) keeps up to 3 decimals rather than lose it."""
    out = frame.copy(deep=False)
    for column in out.columns:
        values = out[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if column in schema.CSV_DECIMALS:
            decimals = schema.CSV_DECIMALS[column]
        elif column in schema.CSV_COUNT_COLUMNS or re.fullmatch(schema.PAR_WEEK_COLUMN_PATTERN, str(column)):
            decimals = None
        else:
            continue
        number = values.to_numpy(dtype=float, na_value=np.nan)
        number = np.where(np.isfinite(number), number, np.nan)
        if decimals is None:
            whole = np.round(number)
            decimals = 0 if np.nanmax(np.abs(number - whole), initial=0.0) <= WHOLE_TOLERANCE else 3
        rounded = np.round(number, decimals)
        out[column] = pd.array(rounded, dtype="Int64") if decimals == 0 else rounded
    return out


class FileWriter(NamedTuple):
    """How :func:`write_files_atomic` writes one file: its encoding and ``write(handle)``."""

    encoding: str | None  # None: bytes
    write: Callable[[Any], object]


def write_csv(frame: pd.DataFrame) -> FileWriter:
    """``frame`` as a spreadsheet-safe CSV: UTF-8 with a byte-order mark (so spreadsheets detect UTF-8),
    one header row, text quoted (ids and NDCs stay text with their leading zeros in tools that honour
    quoting), formulas neutralised, dates ISO, numbers as :func:`csv_numbers` writes them (whole units as
    integers), missing values empty."""
    return _csv_writer(csv_numbers(frame))


def _csv_writer(numbered: pd.DataFrame) -> FileWriter:
    """:func:`write_csv` of a frame whose numbers :func:`csv_numbers` has formatted already."""
    return FileWriter("utf-8-sig", lambda handle: _to_csv(neutralise_formulas(numbered), handle))


def write_csv_by(frame: pd.DataFrame, column: str) -> tuple[FileWriter, dict[object, FileWriter]]:
    """:func:`write_csv` of ``frame`` and of its rows of each value of ``column`` (sorted): each row is
    formatted once, the whole file being the parts' rows in turn when ``frame`` is in ``column`` order.
    Numbers are formatted over the whole frame, so a column reads the same in every part."""
    frame = csv_numbers(frame)
    values = frame[column]
    in_runs = not values.isna().any() and values.is_monotonic_increasing  # each value's rows one run
    safe = iso_dates(neutralise_formulas(frame)) if in_runs else frame
    columns = csv_rows.field_texts(safe) if in_runs else None
    if columns is None:  # out of order, or a column only pandas formats: each part on its own
        return _csv_writer(frame), {value: _csv_writer(rows) for value, rows in frame.groupby(column, sort=True)}
    header = _csv_header(safe)
    # The values as they are name the parts; in column order, each value's rows are one run.
    texts = {value: header + "".join(csv_rows.lines(columns, at[0], at[-1] + 1))
             for value, at in frame.groupby(column, sort=True).indices.items()}
    whole = header + "".join(text[len(header):] for text in texts.values()) if texts else None
    parts = {value: _text_writer(text) for value, text in texts.items()}
    return (_text_writer(whole) if whole is not None else _csv_writer(frame)), parts


def _to_csv(frame: pd.DataFrame, handle) -> None:
    """``frame`` as CSV, dates ISO: what pandas' ``to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)`` writes,
    formatted by ``io.csv_rows`` (by pandas when a column is of a type only pandas formats)."""
    dated = iso_dates(frame)
    columns = csv_rows.field_texts(dated)
    if columns is None:
        dated.to_csv(handle, index=False, quoting=csv.QUOTE_NONNUMERIC)
        return
    handle.write(_csv_header(dated))
    for text in csv_rows.chunks(columns):
        handle.write(text)


def iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its date and time columns as ISO dates (``0001-01-01``, where strftime's ``%Y`` gives
    ``1-01-01``); the other columns as they are."""
    dated = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if not dated:
        return frame
    out = frame.copy(deep=False)
    for column in dated:
        stamps = out[column].dt.tz_localize(None) if out[column].dt.tz is not None else out[column]  # local dates
        instants = stamps.to_numpy()
        codes, distinct = pd.factorize(instants.view(np.int64))  # a date repeats down a column: each written once
        text = np.datetime_as_string(distinct.view(instants.dtype), unit="D").astype(object)[codes]  # years 4 digits
        text[stamps.isna().to_numpy()] = None
        out[column] = text
    return out


def _csv_header(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.iloc[:0].to_csv(buffer, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return buffer.getvalue()


def _text_writer(text: str) -> FileWriter:
    return FileWriter("utf-8-sig", lambda handle: handle.write(text))


def write_text(text: str) -> FileWriter:
    """``text`` as UTF-8."""
    return FileWriter("utf-8", lambda handle: handle.write(text))
