"""What the notebooks open: the project's settings file, its warehouse and the chosen run.

Jupyter starts a notebook's kernel in the notebook's folder (``notebooks/``), the test suite and scripts
elsewhere; the paths here are read from the project root, the folder holding ``turnover.toml``, so a
notebook finds the same warehouse wherever it runs. Environment variables choose, as for the CLI:

- ``TURNOVER_DB``: the warehouse file (default: the settings' ``warehouse_path``, else the demo's);
- ``TURNOVER_RUN``: a run id or its first characters (default: the latest completed run);
- ``TURNOVER_CONFIG``: the settings file (default: the nearest ``turnover.toml`` at or above the
  working directory, else the one at the root of the repository the package is installed from).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb

from turnover.io.outputs import find_run
from turnover.settings import DEFAULT_CONFIG_FILE, load_settings

DB_VARIABLE, RUN_VARIABLE, CONFIG_VARIABLE = "TURNOVER_DB", "TURNOVER_RUN", "TURNOVER_CONFIG"


def project_config(start: str | Path | None = None) -> Path | None:
    """The settings file a notebook reads (absolute), or None when there is none.

    ``$TURNOVER_CONFIG`` if set (relative to the working directory, as for the CLI), else the nearest
    ``turnover.toml`` in ``start`` (default: the working directory) or a folder above it, else the one
    at the root of the repository the package is installed from (an editable install).
    """
    named = os.environ.get(CONFIG_VARIABLE)
    if named:
        return Path(named).resolve()
    here = Path(start or Path.cwd()).resolve()
    repository = Path(__file__).resolve().parents[3]  # src/turnover/io/notebook.py -> the repository
    for folder in (here, *here.parents, repository):
        if (folder / DEFAULT_CONFIG_FILE).is_file():
            return folder / DEFAULT_CONFIG_FILE
    return None


def project_root(start: str | Path | None = None) -> Path:
    """The folder relative paths are read from: the settings file's, else ``start`` (the working directory)."""
    return _root(project_config(start), start)


def _root(config: Path | None, start: str | Path | None) -> Path:
    return config.parent if config else Path(start or Path.cwd()).resolve()


def warehouse_path(start: str | Path | None = None) -> Path:
    """The warehouse file a notebook opens (absolute): ``$TURNOVER_DB``, else the settings' ``warehouse_path``,
    else, while that does not exist, the demo's (``<demo_dir>/warehouse.duckdb``, what ``make run`` writes).

    A relative path is read from the project root (:func:`project_root`), whatever the working directory:
    ``TURNOVER_DB=data/other.duckdb`` names the same file from the root and from ``notebooks/``.

    Raises:
        FileNotFoundError: no warehouse there yet; the message says how to build the demo one.
    """
    named = os.environ.get(DB_VARIABLE)
    config = project_config(start)  # found once: it walks the folders up from ``start``
    root = _root(config, start)
    if named:
        path = Path(named) if Path(named).is_absolute() else root / named
    else:
        path = load_settings(config).warehouse_to_read(root)
    if not path.is_file():
        source = f"${DB_VARIABLE}" if named else "the settings' warehouse_path"
        raise FileNotFoundError(f"no warehouse at {path} ({source}): a weekly run writes it (`make run` for the "
                                f"demo), or set {DB_VARIABLE} to another warehouse file")
    return path


def chosen_run(con: duckdb.DuckDBPyConnection) -> tuple[str, date, str, str]:
    """``(run_id, as_of, period, settings JSON)`` of ``$TURNOVER_RUN`` (an id or its first characters),
    else of the latest completed run.

    Raises:
        LookupError: no such run, or the characters start several run ids.
    """
    return find_run(con, os.environ.get(RUN_VARIABLE) or None)
