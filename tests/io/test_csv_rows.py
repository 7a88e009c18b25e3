"""The CSVs are written as pandas' ``to_csv`` wrote them, byte for byte: each distinct value formatted once
(``io.csv_rows``), pandas itself for a column of another type."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnover.io import csv_rows, spreadsheet

ROWS = 12
TEXT = st.text(alphabet=st.sampled_from(['a', 'Z', '0', ',', '"', "'", '\n', '\r', ' ', '\t', '=', '-', '@', 'é',
                                         '\u2028', '\x00', '＝', '😀']), max_size=5)
MISSING = st.sampled_from([None, np.nan, pd.NA])
NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 0.1, 1e16, 1e-5, 5e-324])


def _column(kind: str, n: int):
    """A strategy for ``n`` values of one column of ``kind``."""
    values = {
        "float": st.lists(NUMBERS, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=float)),
        "estimate": st.lists(st.floats(-1e12, 1e12) | st.sampled_from([np.nan, np.inf, -0.0]), min_size=n,
                             max_size=n).map(lambda v: np.array(v, dtype=float)),  # rounding 1e308 overflows
        "count": st.lists(st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6), min_size=n, max_size=n).map(
            lambda v: np.array(v, dtype=float)),
        "int": st.lists(st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, np.int64)),
        "int32": st.lists(st.integers(-2**31, 2**31 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, np.int32)),
        "bool": st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=bool)),
        "Int64": st.lists(st.none() | st.integers(-10**9, 10**9), min_size=n, max_size=n).map(
            lambda v: pd.array(v, dtype="Int64")),
        "boolean": st.lists(st.none() | st.booleans(), min_size=n, max_size=n).map(lambda v: pd.array(v, "boolean")),
        "text": st.lists(MISSING | TEXT, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=object)),
        "date": st.lists(st.none() | st.datetimes(), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="datetime64[us]").to_numpy()),
        "mixed": st.lists(MISSING | TEXT | st.integers(0, 3) | st.floats(0, 3) | st.booleans(), min_size=n,
                          max_size=n).map(lambda v: np.array(v, dtype=object)),
        "category": st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n).map(
            lambda v: pd.Categorical(v)),
    }
    return values[kind]


KINDS = ("float", "estimate", "count", "int", "int32", "bool", "Int64", "boolean", "text", "date", "mixed", "category")
# Columns csv_numbers rounds: an estimate to 1 decimal (schema.CSV_DECIMALS), a count to whole units or 3 decimals.
LAID_OUT_NAMES = {"estimate": "mean", "count": "par_level_units"}


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(0, ROWS))
    columns = {}
    for i, kind in enumerate(draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))):
        name = LAID_OUT_NAMES.get(kind, f"{kind} {i}")
        columns[name if name not in columns else f'{kind} "{i}", é'] = draw(_column(kind, n))
    return pd.DataFrame(columns)


def pandas_text(frame: pd.DataFrame, rows: pd.Index | None = None) -> str:
    """What ``write_csv`` wrote of ``frame`` (only ``rows``, if given) when pandas formatted every cell."""
    laid_out = spreadsheet.iso_dates(spreadsheet.neutralise_formulas(spreadsheet.csv_numbers(frame)))
    buffer = io.StringIO()
    laid_out.loc[laid_out.index if rows is None else rows].to_csv(buffer, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return buffer.getvalue()


def written(writer: spreadsheet.FileWriter) -> str:
    buffer = io.StringIO()
    writer.write(buffer)
    return buffer.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_every_csv_reads_as_pandas_wrote_it_whatever_its_columns_hold(frame):
    assert written(spreadsheet.write_csv(frame)) == pandas_text(frame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.lists(st.sampled_from(["L2", "L1", "=L3"]), min_size=ROWS, max_size=ROWS))
def test_a_file_by_location_and_the_whole_file_read_as_pandas_wrote_them(frame, locations):
    frame = frame.assign(location_id=locations[:len(frame)]).sort_values("location_id", kind="stable")
    whole, parts = spreadsheet.write_csv_by(frame, "location_id")
    assert written(whole) == pandas_text(frame)
    assert list(parts) == sorted(set(frame["location_id"]))
    for location, part in parts.items():  # numbers laid out over the whole frame: a column reads the same in each
        assert written(part) == pandas_text(frame, frame.index[frame["location_id"] == location])


def test_each_number_is_written_as_python_writes_it_and_minus_zero_stays_minus_zero():
    numbers = pd.DataFrame({"x": [-0.0, 0.0, 0.1, 1e16, 1e-5, np.nan, np.inf, 2.5, 2.5], "n": range(9)})
    texts = csv_rows.field_texts(numbers)
    assert list(texts[0]) == ["-0.0", "0.0", "0.1", "1e+16", "1e-05", '""', "inf", "2.5", "2.5"]
    assert "".join(csv_rows.chunks(texts)).splitlines()[0] == "-0.0,0"


def test_text_pandas_would_take_for_another_is_left_to_pandas():
    # pandas' hash table for text ends a text at a NUL: "" and "\x00a" would be one value
    assert csv_rows.field_texts(pd.DataFrame({"t": ["", "\x00a", ""]})) is None
    assert csv_rows.field_texts(pd.DataFrame({"t": ["1", 1, None]})) is None  # text mixed with numbers
    frame = pd.DataFrame({"t": ["", "\x00a", "", None]})
    assert written(spreadsheet.write_csv(frame)) == pandas_text(frame) == '"t"\n""\n"\x00a"\n""\n""\n'
