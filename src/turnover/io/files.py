"""Output files on disk, each written whole; file names made from ids; the run's hold on its folders.

A file is written to a temporary file beside its final name and renamed over it only when complete
(``os.replace`` is atomic on one file system): a failed run leaves the previous file or none, never half
of one. A run's set of files is published at once by ``turnover.io.publish``. A process killed while
writing leaves hidden ``.<name>.turnover-*.tmp`` files (nothing can remove them at a SIGKILL); the next
write in that folder removes them, never following a symbolic link. New files get the mode the umask
gives (``0666 & ~umask``, as any other tool), also when they replace a file.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from turnover.io.spreadsheet import FileWriter, write_csv

log = logging.getLogger(__name__)

TEMP_MARK = ".turnover-"  # in every staged file's name: what the sweep of leftovers may remove


class OutputError(RuntimeError):
    """An output file cannot be written; the message names the folder and the reason in one line."""


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
            current.parent.mkdir(parents=True, exist_ok=True)
            staged.append(stage(current, writer))
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


def stage(path: Path, writer: FileWriter | Path) -> Path:
    """The file written into a new temporary file beside ``path`` (a hidden name with ``TEMP_MARK``) and
    flushed to disk; returns its path. ``writer`` a path: a hard link to that file, or a copy of it where the
    file system has no hard links (some network shares)."""
    link = writer if isinstance(writer, Path) else None
    if link is not None:
        writer = FileWriter(None, lambda handle: _copy(link, handle))
    while True:
        temp = temp_path(path)
        try:
            if link is not None and _linked(link, temp):
                return temp
            write_new(temp, writer)
            return temp
        except FileExistsError:
            continue  # a name taken since it was drawn: draw another


def temp_path(path: Path) -> Path:
    """A new hidden name beside ``path`` for it while it is written: ``.<name>.turnover-<random>.tmp``."""
    return path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}.tmp")


def _linked(source: Path, link: Path) -> bool:
    """Whether a hard link to ``source`` was made at ``link`` (False: the file system has none)."""
    try:
        os.link(source, link)
    except FileExistsError:
        raise
    except OSError:
        return False
    return True


def _copy(source: Path, handle) -> None:
    with open(source, "rb") as read:
        shutil.copyfileobj(read, handle)


def open_new(path: Path, encoding: str | None):
    """A new file at ``path`` opened for writing (text in ``encoding``, or bytes when None), with the mode the
    umask gives; never through a symbolic link, never over a file already there (``FileExistsError``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)
    return open(fd, "wb") if encoding is None else open(fd, "w", encoding=encoding, newline="")


def write_new(path: Path, writer: FileWriter) -> None:
    """``writer``'s file written at the new path ``path`` and flushed to disk (removed if that fails)."""
    handle = open_new(path, writer.encoding)
    try:
        with handle:
            writer.write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def is_leftover(name: str) -> bool:
    """Whether ``name`` is one a killed write leaves (``.<name>.turnover-*.tmp``)."""
    return name.startswith(".") and TEMP_MARK in name and name.endswith(".tmp")


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove what writes killed before they renamed it left in ``folder`` (files, staged run folders); returns
    them. A symbolic link is never followed: a folder that is one is not swept, a leftover that is one is
    removed as a link, and what it points to is left alone."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        leftovers = sorted((entry for entry in entries if is_leftover(entry.name)), key=lambda entry: entry.name)
    for entry in leftovers:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)  # removes what is inside, never what a link inside points to
        else:
            Path(entry.path).unlink(missing_ok=True)
        log.info("removed %s, left by an export that did not finish", entry.path)
    return [Path(entry.path) for entry in leftovers]


def os_reason(exc: OSError) -> str:
    """The OS's reason with its errno name: ``No space left on device [ENOSPC]``."""
    code = f" [{errno.errorcode[exc.errno]}]" if exc.errno in errno.errorcode else ""
    return f"{exc.strerror or str(exc) or type(exc).__name__}{code}"


def output_error(path: Path, exc: OSError, renamed: int = 0) -> OutputError:
    """One line naming the output folder, the reason, the file, and whether earlier files were replaced."""
    kept = f"{renamed} file(s) were already replaced" if renamed else "files already there were left as they were"
    return OutputError(f"cannot write to output folder {path.parent}: {os_reason(exc)} (writing {path.name}); {kept}")


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
        raise OutputError(f"cannot write to output folder {folder}: {os_reason(exc)}") from exc


def _test_pause(point: str) -> None:
    """Test hook: sleep here when ``TURNOVER_TEST_PAUSE_AT`` names ``point``, so a test can kill the process
    at a known moment (tests/test_faults.py, tests/flows/test_faults_flow.py). The points, in the order an
    export (``turnover.io.publish``) passes them: ``export``, the first file of the set staged; ``commit``, the
    run folder complete, the manifest not switched; ``publish``, the manifest switched and the first top-level
    file replaced. Unset (always, outside those tests) it costs one lookup."""
    if os.environ.get("TURNOVER_TEST_PAUSE_AT") == point:
        log.warning("paused at %s (TURNOVER_TEST_PAUSE_AT)", point)
        time.sleep(float(os.environ.get("TURNOVER_TEST_PAUSE_SECONDS", "120")))


#: How a name changed by :func:`safe_file_part` ends: an id ending so gets a suffix too, so it cannot take the
#: name another id was given (``S_1-ac1175e6`` is the name of ``S/1``).
HASH_SUFFIX = re.compile(r".*-[0-9a-f]{8}", re.IGNORECASE)
#: Names Windows keeps for devices, whatever the extension (a share opened from Windows cannot hold them).
WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10))})


def safe_file_part(text: str) -> str:
    """``text`` as one file-name component that cannot leave its folder, unique per ``text``.

    Ids from data never steer a path: anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``.
    An id changed by that (or too long), a Windows device name, or an id that ends as a changed one does
    (``-`` and 8 hex digits) gets ``-`` and a short hash of itself: a kept name never has that ending and a
    changed one always does, so two ids never share a name.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:60]
    if cleaned and cleaned == text and not HASH_SUFFIX.fullmatch(text) and \
            cleaned.split(".")[0].upper() not in WINDOWS_DEVICES:
        return cleaned
    return _suffixed(cleaned, text)


def _suffixed(cleaned: str, text: str) -> str:
    return f"{cleaned or 'id'}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def file_parts(ids: list[str]) -> dict[str, str]:
    """``{id: file-name component}``: :func:`safe_file_part` of each, and distinct also on a file system that
    ignores case (a Windows or macOS share): names that differ only in case all get the hash suffix."""
    names = {text: safe_file_part(text) for text in ids}
    folded = Counter(name.casefold() for name in names.values())
    return {text: _suffixed(name, text) if folded[name.casefold()] > 1 and name == text else name
            for text, name in names.items()}


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
