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


#: The warehouse's layout version, kept in :data:`MARKER` when the warehouse is created. A warehouse of an
#: earlier version is migrated when opened for writing (:func:`_migrate`); one of a later version is refused.
#: 2: raw.dispensing keys its rows by the ledger's integer ``file_id`` instead of the file's sha256.
SCHEMA_VERSION = 2
MARKER = "main.turnover_warehouse"
#: Tables every warehouse has had: a file holding them without a marker is one made before the marker (adopted).
EARLIER_WAREHOUSE_TABLES = frozenset({"raw.dispensing", "raw.loaded_files", "marts.runs"})
WAREHOUSE_SUFFIXES = (".duckdb", ".db")
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


@cache
def sql_text(name: str) -> str:
    """The text of ``io/sql/<name>.sql``."""
    return resources.files("turnover.io").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def connect(path: str | Path, read_only: bool = False, *, memory_limit: str | None = None,
            threads: int = 0) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file, with its tables created (unless read-only) and macros defined;
    DuckDB's ``memory_limit`` and ``threads`` set when given (``[execution] duckdb_memory_limit``,
    ``duckdb_threads``: beyond the limit, DuckDB spills to ``<warehouse>.tmp``).

    Raises:
        WarehouseError: another process holds the file; it is not a turnover warehouse (:func:`check_path`,
            another program's tables) or one of a later version.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"warehouse not found: {path}")
    check_path(path)
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
    try:
        if memory_limit:
            con.execute(f"set memory_limit = '{memory_limit.strip()}'")  # a validated setting, not free text
        if threads:
            con.execute(f"set threads = {int(threads)}")
        version = _marked_version(con, path)
        if not read_only:
            con.execute(sql_text("schema"))
            if version != SCHEMA_VERSION:
                with transaction(con):
                    _migrate(con, version)
                    _mark(con, version)
        con.execute(sql_text("macros"))
    except BaseException:
        con.close()
        raise
    return con


def check_path(path: str | Path) -> None:
    """Refuse, before anything is created or locked, a path that is not and cannot become a turnover warehouse.

    Raises:
        WarehouseError: a folder; a file that is not a DuckDB database (a CSV given as ``--db``); a new file
            whose name does not end in ``.duckdb`` or ``.db`` (a typo would create a database by that name).
    """
    path = Path(path)
    if str(path) == ":memory:":  # DuckDB's in-memory database (tests, scratch work)
        return
    if path.is_dir():
        raise WarehouseError(f"{path} is a folder, not a warehouse file: give --db a .duckdb file")
    if not path.exists():
        if path.suffix.lower() not in WAREHOUSE_SUFFIXES:
            raise WarehouseError(f"no warehouse {path}, and a new one must be named *.duckdb or *.db: check --db")
        return
    with open(path, "rb") as handle:
        if handle.read(12)[8:] != DUCKDB_MAGIC:
            raise WarehouseError(f"{path} is not a DuckDB database, so not a turnover warehouse: check --db")


def _marked_version(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """The warehouse's layout version; 0 for one made before the marker; None for an empty (new) database.

    Raises:
        WarehouseError: another program's database, or a warehouse of a later turnover version.
    """
    tables = {f"{s}.{t}" for s, t in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database()").fetchall()}
    if MARKER in tables:
        version = con.execute(f"select max(version) from {MARKER}").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise WarehouseError(f"{path} was made by a later turnover (warehouse version {version}; this one reads "
                                 f"up to {SCHEMA_VERSION}): upgrade turnover")
        return version
    if not tables:
        return None
    if not EARLIER_WAREHOUSE_TABLES <= tables:
        shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
        raise WarehouseError(f"{path} is a DuckDB database but not a turnover warehouse (it holds {shown}): "
                             "give --db a turnover warehouse or a new .duckdb file")
    return 0


def _migrate(con: duckdb.DuckDBPyConnection, version: int | None) -> None:
    """Bring a warehouse of an earlier ``version`` to :data:`SCHEMA_VERSION`, once ``schema.sql`` has created what
    it lacked (version 0, made before the marker, has the tables of version 1; None is a new warehouse).

    To version 2: the ledger's files are numbered (``file_id``) in load order, and ``raw.dispensing`` is rebuilt
    in the current layout, each row keyed by its file's number instead of its sha256.
    """
    if version is None or version >= 2:
        return
    con.execute("update raw.loaded_files f set file_id = n.file_id from (select file_sha256, row_number() over "
                "(order by loaded_at, file_sha256) as file_id from raw.loaded_files) n "
                "where f.file_sha256 = n.file_sha256")
    columns = {c for (c,) in con.execute("select column_name from duckdb_columns() where database_name = "
                                         "current_database() and schema_name = 'raw' and table_name = 'dispensing'"
                                         ).fetchall()}
    if "file_sha256" in columns:
        con.execute("alter table raw.dispensing rename to dispensing_v1")
        con.execute(sql_text("schema"))  # raw.dispensing as a new warehouse has it
        con.execute("insert into raw.dispensing by name select f.file_id, d.* exclude (file_sha256) "
                    "from raw.dispensing_v1 d join raw.loaded_files f using (file_sha256)")
        con.execute("drop table raw.dispensing_v1")


def _mark(con: duckdb.DuckDBPyConnection, version: int | None) -> None:
    """Mark a new warehouse, or adopt (and migrate: :func:`_migrate`) an earlier one, as of :data:`SCHEMA_VERSION`."""
    con.execute(f"create table if not exists {MARKER} (version integer not null, marked_at timestamp not null, "
                "adopted_from integer)")
    con.execute(f"insert into {MARKER} values (?, current_timestamp, ?)", [SCHEMA_VERSION, version])


@contextmanager
def open_warehouse(path: str | Path, read_only: bool = False, *, memory_limit: str | None = None,
                   threads: int = 0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context-managed :func:`connect` that always closes the connection."""
    con = connect(path, read_only=read_only, memory_limit=memory_limit, threads=threads)
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
    check_path(path)  # never a lock beside a file that is not a warehouse
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


def verify(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Read every row of every table, so that DuckDB checks the checksum of every block it stores them in (a
    query reading some columns of some tables would not notice bytes damaged elsewhere); returns the tables read.

    Raises:
        WarehouseError: a block is damaged (the file, the table and DuckDB's message).
    """
    tables = con.execute("select schema_name, table_name from duckdb_tables() "
                         "where database_name = current_database() and not temporary").fetchall()
    for schema_name, table in tables:
        try:
            con.execute(f"select sum(hash(t)) from {quote_identifier(schema_name)}.{quote_identifier(table)} as t"
                        ).fetchone()
        except duckdb.Error as exc:
            raise WarehouseError(f"warehouse {path} is damaged (table {schema_name}.{table}: "
                                 f"{str(exc).splitlines()[0]}); restore it from a backup") from exc
    return len(tables)


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
