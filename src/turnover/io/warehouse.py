"""Opening the DuckDB warehouse, its tables, and small helpers shared by the other io modules."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb


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
            raise WarehouseError(f"warehouse busy: {path} is open in another process (one writer at a time)") from exc
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
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
    columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]
    data = frame.assign(**{key_column: key}).reindex(columns=columns)
    with transaction(con):
        con.execute(f"delete from {table} where {key_column} = ?", [key])
        con.register("_partition_rows", data)
        try:
            con.execute(f"insert into {table} by name select * from _partition_rows")
        finally:
            con.unregister("_partition_rows")
    return len(data)


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
