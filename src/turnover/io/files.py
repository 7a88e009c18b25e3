"""The files purchasing opens: spreadsheet-safe CSVs and the report, written all or nothing.

CSV files are written to a temporary file in the output folder and renamed over the final name only
when complete (``os.replace`` is atomic on one file system): a failed run leaves the previous file
or none, never half of one. A run's files are all staged before the first is renamed, so a run that
fails or is killed while writing replaces none of them. A process killed while staging leaves hidden
``.<name>.turnover-*.tmp`` files (nothing can remove them at a SIGKILL); the next export in that
folder removes them.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from turnover import schema

log = logging.getLogger(__name__)

TEMP_MARK = ".turnover-"  # in every staged file's name: what the sweep of leftovers may remove
# Spreadsheets run a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class OutputError(RuntimeError):
    """An output file cannot be written; the message names the folder and the reason in one line."""


def _text_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns
            if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype | pd.CategoricalDtype)]


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed with ``'`` so they stay text.

    Only text columns: numbers (a negative order, a return) stay numbers. Each distinct value is looked at
    once (ids, models and classes repeat down a column of a million rows).
    """
    out = frame.copy()
    for column in _text_columns(out):
        values = out[column].astype(object).to_numpy(copy=True)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        safe = [_neutralised(v) for v in uniques]
        changed = np.array([a is not b for a, b in zip(safe, uniques, strict=True)] + [False], dtype=bool)
        at = np.flatnonzero(changed[codes])  # code -1 (missing) reads the trailing False
        values[at] = [safe[c] for c in codes[at]]
        out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def _neutralised(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value


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

    encoding: str
    write: Callable[[Any], object]


def write_csv(frame: pd.DataFrame) -> FileWriter:
    """``frame`` as a spreadsheet-safe CSV: UTF-8 with a byte-order mark (so spreadsheets detect UTF-8),
    one header row, text quoted (ids and NDCs stay text with their leading zeros in tools that honour
    quoting), formulas neutralised, dates ISO, numbers as :func:`csv_numbers` writes them (whole units as
    integers), missing values empty."""
    return FileWriter("utf-8-sig", lambda handle: _to_csv(neutralise_formulas(csv_numbers(frame)), handle))


def write_csv_by(frame: pd.DataFrame, column: str) -> tuple[FileWriter, dict[object, FileWriter]]:
    """:func:`write_csv` of ``frame`` and of its rows of each value of ``column`` (sorted): each row is
    formatted once, the whole file being the parts' rows in turn when ``frame`` is in ``column`` order.
    Numbers are formatted over the whole frame, so a column reads the same in every part."""
    frame = csv_numbers(frame)
    values = frame[column]
    if values.isna().any() or not values.is_monotonic_increasing:
        return write_csv(frame), {value: write_csv(rows) for value, rows in frame.groupby(column, sort=True)}
    safe = neutralise_formulas(frame)
    texts = {}
    for value, rows in frame.groupby(column, sort=True):  # the values as they are name the parts
        buffer = io.StringIO()
        _to_csv(safe.loc[rows.index], buffer)
        texts[value] = buffer.getvalue()
    header = _csv_header(safe)
    whole = header + "".join(text[len(header):] for text in texts.values()) if texts else None
    parts = {value: _text_writer(text) for value, text in texts.items()}
    return (_text_writer(whole) if whole is not None else write_csv(frame)), parts


def _to_csv(frame: pd.DataFrame, handle) -> None:
    frame.to_csv(handle, index=False, quoting=csv.QUOTE_NONNUMERIC, date_format="%Y-%m-%d")


def _csv_header(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    _to_csv(frame.iloc[:0], buffer)
    return buffer.getvalue()


def _text_writer(text: str) -> FileWriter:
    return FileWriter("utf-8-sig", lambda handle: handle.write(text))


def write_text(text: str) -> FileWriter:
    """``text`` as UTF-8."""
    return FileWriter("utf-8", lambda handle: handle.write(text))


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as a spreadsheet-safe CSV (:func:`write_csv`) to ``path``, atomically."""
    return write_files_atomic({Path(path): write_csv(frame)})[0]


def write_files_atomic(files: dict[Path, FileWriter]) -> list[Path]:
    """Write every file of ``{path: writer}``: each is staged complete beside its final name, and only when
    all are staged are they renamed over their final names, in order. A failure while staging removes the
    staged files and replaces nothing. Returns the paths.

    Raises:
        OutputError: a file cannot be written (folder and reason named: disk full, read-only, ...).
    """
    paths = [Path(p) for p in files]
    for folder in dict.fromkeys(p.parent for p in paths):
        sweep_leftovers(folder)
    staged: list[Path] = []
    current, renamed = (paths[0] if paths else None), 0
    try:
        for current, writer in zip(paths, files.values(), strict=True):
            staged.append(_stage(current, writer))
            if len(staged) == 1 and len(paths) > 1:
                _test_pause("export")
        for temp, current in zip(staged, paths, strict=True):
            os.replace(temp, current)
            renamed += 1
    except BaseException as exc:
        for temp in staged:
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(current, exc, renamed) from exc
        raise
    return paths


def _stage(path: Path, writer: FileWriter) -> Path:
    """The file written into a temporary file beside ``path`` and flushed to disk; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding=writer.encoding, newline="", dir=path.parent,
                                         prefix=f".{path.name}{TEMP_MARK}", suffix=".tmp", delete=False)
    try:
        with handle:
            writer.write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Path(handle.name)


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove files staged by an export that was killed before it renamed them; returns them."""
    if not folder.is_dir():
        return []
    leftovers = sorted(folder.glob(f".*{TEMP_MARK}*.tmp"))
    for temp in leftovers:
        temp.unlink(missing_ok=True)
        log.info("removed %s, left by an export that did not finish", temp)
    return leftovers


def _reason(exc: OSError) -> str:
    """The OS's reason with its errno name: ``No space left on device [ENOSPC]``."""
    code = f" [{errno.errorcode[exc.errno]}]" if exc.errno in errno.errorcode else ""
    return f"{exc.strerror or str(exc) or type(exc).__name__}{code}"


def output_error(path: Path, exc: OSError, renamed: int = 0) -> OutputError:
    """One line naming the output folder, the reason, the file, and whether earlier files were replaced."""
    kept = f"{renamed} file(s) were already replaced" if renamed else "files already there were left as they were"
    return OutputError(f"cannot write to output folder {path.parent}: {_reason(exc)} (writing {path.name}); {kept}")


def check_writable(folder: str | Path) -> None:
    """Raise :class:`OutputError` now, before a run's work, if files cannot be written in ``folder`` (or
    it cannot be created: the run creates it when absent, and nothing is created here)."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write to output folder {folder}: {existing} is a file, not a folder")
    try:
        if existing == folder:
            with tempfile.TemporaryFile(dir=folder):
                pass
        elif not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, f"cannot create it in {existing}")
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {folder}: {_reason(exc)}") from exc


def _test_pause(point: str) -> None:
    """Test hook: sleep here when ``TURNOVER_TEST_PAUSE_AT`` names ``point``, so a test can kill the process
    at a known moment (tests/flows/test_faults_flow.py). The one point is ``export``: the first file staged,
    none renamed. Unset (always, outside those tests) it costs one lookup."""
    if os.environ.get("TURNOVER_TEST_PAUSE_AT") == point:
        log.warning("paused at %s (TURNOVER_TEST_PAUSE_AT)", point)
        time.sleep(float(os.environ.get("TURNOVER_TEST_PAUSE_SECONDS", "120")))


def safe_file_part(text: str) -> str:
    """``text`` as one file-name component that cannot leave its folder, unique per ``text``.

    Ids from data never steer a path: anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``,
    and an id changed by that (or too long) gets a short hash of itself, so two ids never share a file.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:60]
    if cleaned and cleaned == text:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned or 'id'}-{digest}"




@contextmanager
def exclusive_run(warehouse_path: Path, output_dir: Path) -> Iterator[None]:
    """Hold the warehouse for a run, after checking, before any work, that no other process has it and that
    the output folder can be written (re-entrant: the CLI checks before Prefect starts, the flow again).
    Light to import: the CLI checks before it loads the forecasting stack.

    Raises:
        WarehouseError: the warehouse is busy (another run, or a process with the file open).
        OutputError: the output folder cannot be written or created.
    """
    from turnover.io.warehouse import connect, hold

    with hold(warehouse_path):
        connect(warehouse_path).close()  # busy if a notebook or a shell has the file open
        check_writable(output_dir)
        yield
