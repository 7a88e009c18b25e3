"""Opening the DuckDB warehouse, its tables, and small helpers shared by the other io modules.

One run at a time per warehouse: a run holds ``<warehouse>.lock`` (an advisory ``flock``, released by
the operating system when the process ends, however it ends) from its first step to its last, because
its steps open and close the DuckDB file one after another and DuckDB's own lock only covers an open
connection. A second run is told the warehouse is busy before it starts.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

try:
    import fcntl
except ImportError:  # Windows: no run lock (DuckDB's own lock still refuses a second writer)
    fcntl = None


class WarehouseError(RuntimeError):
    """The warehouse cannot be opened or used; the message says why in one line."""


@cache
def sql_text(name: str) -> str:
    """The text of ``io/sql/<name>.sql``."""
    return resources.files("turnover.io").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file, with its tables created (unless read-only) and macros defined.

    Raises:
        WarehouseError: another process holds the file, or it is not a DuckDB database.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"warehouse not found: {path}")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            pid = re.search(r"\(PID (\d+)\)", str(exc))
            holder = f"another process (PID {pid.group(1)})" if pid else "another process"
            raise WarehouseError(f"warehouse busy: {path} is open in {holder}; wait for it to finish or close it, "
                                 "then run again") from exc
        raise WarehouseError(f"cannot open warehouse {path}: {str(exc).splitlines()[0]}") from exc
    if not read_only:
        con.execute(sql_text("schema"))
    con.execute(sql_text("macros"))
    return con


@contextmanager
def open_warehouse(path: str | Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context-managed :func:`connect` that always closes the connection."""
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


_held: dict[Path, list[int]] = {}  # run locks this process holds: lock file -> [fd, depth]
_held_guard = threading.Lock()


def lock_path(path: str | Path) -> Path:
    """The run lock beside the warehouse file: ``<warehouse>.lock``."""
    path = Path(path).resolve()
    return path.with_name(path.name + ".lock")


@contextmanager
def hold(path: str | Path) -> Iterator[None]:
    """Hold the warehouse for one run (re-entrant within a process).

    Raises:
        WarehouseError: another process holds it ("warehouse busy", the file and what to do).
    """
    key = lock_path(path)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
        else:
            _held[key] = [_lock(key, path), 1]
    try:
        yield
    finally:
        with _held_guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                os.close(_held.pop(key)[0])  # closing the descriptor releases the lock


def _lock(key: Path, path: str | Path) -> int:
    key.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WarehouseError(f"warehouse busy: {path} is in use by another turnover run; wait for it to finish, "
                             "then run again") from None
    return fd


def held_here(path: str | Path) -> bool:
    """This process holds the warehouse's run lock."""
    return lock_path(path) in _held


def held_elsewhere(path: str | Path) -> bool:
    """Another process holds the warehouse's run lock (a run is alive there). True when it cannot be told."""
    key = lock_path(path)
    if key in _held or not key.exists():
        return False
    if fcntl is None:
        return True
    try:
        fd = os.open(key, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the probe's lock
    return False


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction: all of it is committed, or none of it."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def replace_partition(con: duckdb.DuckDBPyConnection, table: str, key_column: str, key: object, frame) -> int:
    """Replace the rows of ``table`` whose ``key_column`` equals ``key`` with ``frame`` (matched by
    column name; the table's other columns get nulls), in one transaction; returns rows written.

    ``table`` and ``key_column`` are constants from ``turnover.schema``, never user input.
    """
    return replace_partitions(con, key_column, key, {table: frame})[table]


def replace_partitions(con: duckdb.DuckDBPyConnection, key_column: str, key: object, frames: dict) -> dict[str, int]:
    """:func:`replace_partition` for several tables (``{table: frame}``) in one transaction: all are
    replaced or none is. Returns rows written per table."""
    written = {}
    with transaction(con):
        for table, frame in frames.items():
            columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]
            data = frame.assign(**{key_column: key}).reindex(columns=columns)
            con.execute(f"delete from {table} where {key_column} = ?", [key])
            con.register("_partition_rows", data)
            try:
                con.execute(f"insert into {table} by name select * from _partition_rows")
            finally:
                con.unregister("_partition_rows")
            written[table] = len(data)
    return written


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes: the identity of a loaded file in the ledger."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (for headers read from a file, never for values)."""
    return '"' + name.replace('"', '""') + '"'


def normalize_ndc(values: list[str]) -> list[str]:
    """``values`` through the warehouse's ``normalize_ndc`` macro (the one implementation)."""
    con = duckdb.connect()
    try:
        con.execute(sql_text("macros"))
        rows = con.execute("select normalize_ndc(unnest($v)) ", {"v": list(values)}).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]
