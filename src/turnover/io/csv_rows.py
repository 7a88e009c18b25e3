"""A frame's rows as CSV text: the text pandas' ``to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)`` writes,
each distinct value formatted once.

pandas hands the csv module every cell as a Python object, formatted and quoted one at a time: seconds for the
forecast of a chain. Here each column's distinct values are formatted once, as the csv module formats what
pandas hands it (text quoted, its quotes doubled; floats as ``repr``; integers and booleans as ``str``; a
missing value as pandas' empty ``na_rep``, quoted), and the lines are joined from them. A column of another
type (categories, nullable floats, text mixed with numbers, ...) gives None: pandas then writes the frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

MISSING = '""'  # pandas' na_rep "", quoted as the csv module quotes text
CHUNK_ROWS = 100_000  # lines joined at a time
MASKED_DTYPES = (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype, pd.UInt8Dtype, pd.UInt16Dtype,
                 pd.UInt32Dtype, pd.UInt64Dtype, pd.BooleanDtype)


def field_texts(frame: pd.DataFrame) -> list[np.ndarray] | None:
    """Each column's fields as CSV text (object arrays), the line ending added to the last column's; None if a
    column is of a type formatted by pandas only, or the frame has no column or two of one name."""
    if frame.columns.empty or frame.columns.has_duplicates:
        return None
    columns = []
    for name in frame.columns:
        texts = _column_texts(frame[name])
        if texts is None:
            return None
        columns.append(texts)
    columns[-1] = columns[-1] + os.linesep
    return columns


def lines(columns: list[np.ndarray], start: int = 0, stop: int | None = None) -> list[str]:
    """Rows ``start`` to ``stop`` (default the last) of :func:`field_texts`' columns, a line each."""
    return list(map(",".join, zip(*(texts[start:stop].tolist() for texts in columns), strict=True)))


def chunks(columns: list[np.ndarray]) -> Iterator[str]:
    """Every row of :func:`field_texts`' columns, ``CHUNK_ROWS`` lines at a time."""
    for start in range(0, len(columns[0]), CHUNK_ROWS):
        yield "".join(lines(columns, start, start + CHUNK_ROWS))


def quoted(text: str) -> str:
    """``text`` as the csv module writes text under ``QUOTE_NONNUMERIC``: in quotes, its quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def _column_texts(column: pd.Series) -> np.ndarray | None:
    dtype = column.dtype
    if dtype == np.float64:  # by bit pattern: -0.0 is not 0.0
        numbers = column.to_numpy()
        texts = _distinct(numbers.view(np.int64), lambda bits: [repr(v) for v in bits.view(np.float64).tolist()])
        texts[np.isnan(numbers)] = MISSING
        return texts
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return _distinct(column.to_numpy(), lambda values: [str(v) for v in values.tolist()])
    if isinstance(dtype, MASKED_DTYPES):
        return _distinct(column.to_numpy(dtype=object, na_value=None), lambda values: [str(v) for v in values])
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return _text_texts(column.to_numpy())
    return None


def _text_texts(values: np.ndarray) -> np.ndarray | None:
    """Text and missing values (None, NaN, ...) as CSV fields; None if another object is among them, or if pandas
    took two texts for one (its hash table for text ends a text at a NUL character)."""
    codes, uniques = pd.factorize(values)
    present = codes >= 0
    if (not np.array_equal(present, ~pd.isna(values)) or not all(isinstance(v, str) for v in uniques)
            or not np.array_equal(uniques[codes[present]], values[present])):
        return None
    return np.array([quoted(v) for v in uniques] + [MISSING], dtype=object)[codes]  # code -1: missing


def _distinct(keys: np.ndarray, render: Callable[[np.ndarray], list[str]]) -> np.ndarray:
    """``render`` of each distinct key once, taken for every row (a missing key, None: :data:`MISSING`)."""
    codes, uniques = pd.factorize(keys)
    return np.array([*render(uniques), MISSING], dtype=object)[codes]
