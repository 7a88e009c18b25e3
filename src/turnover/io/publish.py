"""A run's files published as one set: a reader never finds half of this week's and half of last week's.

The set is written complete into a new run folder (``runs/<as-of>_<hash of the files>/``, under a hidden
name while it is written, renamed when complete), then ``latest.json`` is replaced, by one atomic rename,
with a manifest naming that folder and its files: that rename is the moment the set is published. Only
then are the files purchasing opens (``par_levels_<as-of>.csv``, ... and ``by_location/``) replaced, each
atomically, by hard links to the run folder's files (copies where the file system has no hard links).

A process killed before the manifest is replaced leaves last week's set; killed after, this week's: the
manifest always names a whole set. Top-level files replaced one by one can be a mix for as long as the
killed run is not followed by another: the next export first makes them those of the manifest, then
publishes its own set, then removes every other run folder. Hidden ``.*.turnover-*.tmp`` leftovers are
swept, and no folder the outputs go into may be a symbolic link (a link there is not ours: refused).
The folder is named by a hash of the files, so a retried export of the same run leaves the same folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path, PurePosixPath

from turnover.io import files, spreadsheet
from turnover.io.files import OutputError
from turnover.io.spreadsheet import FileWriter

log = logging.getLogger(__name__)

RUNS = "runs"  # the run folders, in the output folder
MANIFEST = "latest.json"  # names the published set: {"as_of", "run_id", "folder", "files"}
RUN_FOLDER = re.compile(r"[0-9A-Za-z_-]+_[0-9a-f]{12}")


def publish_set(out: str | Path, as_of: str, writers: dict[str, FileWriter], run_id: str) -> list[Path]:
    """Publish ``writers`` (``{path relative to out: writer}``, ``/``-separated) as ``as_of``'s set; returns
    the paths of the files purchasing opens, in order.

    Raises:
        OutputError: a folder the files go into is a symbolic link, or a file cannot be written (folder and
            reason named).
    """
    out = Path(out)
    folders = [RUNS, *dict.fromkeys(str(PurePosixPath(name).parent) for name in writers)]
    _make_folders(out, folders)
    republish(out)
    for folder in folders:
        files.sweep_leftovers(out / folder)
    run_folder = _write_run_folder(out, as_of, writers)
    files._test_pause("commit")
    manifest = {"as_of": as_of, "run_id": run_id, "folder": f"{RUNS}/{run_folder.name}", "files": list(writers)}
    files.write_files_atomic({out / MANIFEST: spreadsheet.write_text(json.dumps(manifest, indent=1) + "\n")})
    public = _link_public(out, run_folder, list(writers))
    _remove_run_folders(out / RUNS, keep=run_folder.name)
    return public


def read_manifest(out: str | Path) -> dict | None:
    """The manifest of the set published in ``out`` (None if none is): read it, not the top-level files, to
    have one run's files together. Its folder and files are checked to stay inside ``out``."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        names = [manifest["folder"], *manifest["files"]]
        inside = RUN_FOLDER.fullmatch(manifest["folder"].removeprefix(f"{RUNS}/")) and not any(
            PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts for name in names)
    except (ValueError, KeyError, TypeError, AttributeError):
        inside = False
    if not inside:
        raise OutputError(f"cannot write to output folder {out}: {path} is not a manifest turnover wrote "
                          "(or names files outside the folder); remove it and run again")
    return manifest


def republish(out: Path) -> list[Path]:
    """Make the top-level files those of the published set where they are not (a run killed while it replaced
    them); returns those replaced."""
    manifest = read_manifest(out)
    if manifest is None:
        return []
    folder = out / manifest["folder"]
    stale = [name for name in manifest["files"] if (folder / name).is_file() and not _same(folder / name, out / name)]
    if stale:
        log.info("completing the files of the run published in %s (%d left from a run that did not finish)",
                 out, len(stale))
    return _link_public(out, folder, stale)


def _make_folders(out: Path, folders: list[str]) -> None:
    """``out`` and its ``folders``, created as needed; refused if one of them, or a folder between, is a link."""
    paths = [out / PurePosixPath(folder) for folder in folders]
    links = sorted({p for path in paths for p in (path, *path.parents) if out in p.parents and p.is_symlink()})
    if links:
        raise OutputError(f"cannot write to output folder {out}: {links[0]} is a symbolic link "
                          "(outputs are never written through one; remove it and run again)")
    try:
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {out}: {files.os_reason(exc)} (creating {path})") from exc


def _write_run_folder(out: Path, as_of: str, writers: dict[str, FileWriter]) -> Path:
    """Every file written into a new hidden folder in ``runs/``, which is then renamed to its run folder name."""
    staging = files.temp_path(out / RUNS / as_of)
    current = out
    try:
        staging.mkdir()
        for n, (name, writer) in enumerate(writers.items()):
            current = out / name
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            files.write_new(staging / name, writer)
            if n == 0 and len(writers) > 1:
                files._test_pause("export")
        folder = out / RUNS / f"{as_of}_{_set_hash(staging, writers)}"
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(staging)  # the same files, published already: a retried export
        else:
            os.rename(staging, folder)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise files.output_error(current, exc) from exc
        raise
    return folder


def _set_hash(folder: Path, names) -> str:
    digest = hashlib.sha256()
    for name in names:
        with open(folder / name, "rb") as handle:
            digest.update(f"{name}\0{hashlib.file_digest(handle, 'sha256').hexdigest()}\0".encode())
    return digest.hexdigest()[:12]


def _link_public(out: Path, folder: Path, names: list[str]) -> list[Path]:
    """Each top-level file replaced, atomically, by a hard link to (or a copy of) its run folder's file."""
    public, staged = [], None
    try:
        for name in names:
            path = out / name
            if not _linked_already(folder / name, path):
                staged = files.stage(path, folder / name)
                os.replace(staged, path)
                staged = None
            public.append(path)
            if len(public) == 1 and len(names) > 1:
                files._test_pause("publish")
    except OSError as exc:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise files.output_error(path, exc, len(public)) from exc
    return public


def _linked_already(file: Path, other: Path) -> bool:
    """Whether ``other`` is a hard link to ``file`` (a rename of one link over another does nothing)."""
    try:
        return not other.is_symlink() and os.path.samefile(file, other)
    except OSError:
        return False


def _same(file: Path, other: Path) -> bool:
    try:
        return _linked_already(file, other) or (not other.is_symlink() and file.read_bytes() == other.read_bytes())
    except OSError:
        return False


def _remove_run_folders(runs: Path, keep: str) -> None:
    """Every run folder but ``keep`` removed (the top-level files are links of their own: they stay)."""
    with os.scandir(runs) as entries:
        superseded = [entry.path for entry in entries if entry.name != keep and RUN_FOLDER.fullmatch(entry.name)
                      and entry.is_dir(follow_symlinks=False)]
    for path in superseded:
        shutil.rmtree(path)
