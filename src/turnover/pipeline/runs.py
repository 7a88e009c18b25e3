"""The run's record and the warehouse it holds: start, failure, summary, verification, retention; the one place a step
opens the warehouse (:func:`warehouse`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from turnover import schema
from turnover.io import files as file_io
from turnover.io import outputs
from turnover.io import retention as retention_io
from turnover.io.warehouse import held_elsewhere, open_warehouse, verify
from turnover.settings import Settings

log = logging.getLogger(__name__)


@contextmanager
def exclusive_run(settings: Settings) -> Iterator[None]:
    """Hold the warehouse for a run (``io.files.exclusive_run``)."""
    with file_io.exclusive_run(settings.warehouse_path, settings.output_dir):
        yield


def warehouse(settings: Settings, read_only: bool = False):
    """The run's warehouse connection (``open_warehouse``) with DuckDB's memory limit and threads as configured."""
    return open_warehouse(settings.warehouse_path, read_only, memory_limit=settings.execution.duckdb_memory_limit,
                          threads=settings.execution.duckdb_threads)


def start_run(settings: Settings, run_id: str, as_of: date) -> int:
    """Record the run as started. Runs still marked running whose process has ended (no other process holds
    the warehouse) are recorded as interrupted; returns how many."""
    interrupted = 0
    with warehouse(settings) as con:
        if not held_elsewhere(settings.warehouse_path):
            interrupted = outputs.mark_interrupted(con, run_id)
            if interrupted:
                log.warning("%s", interrupted_words(interrupted))
        outputs.start_run(con, run_id, as_of, settings.forecast.period, outputs.settings_json(settings))
    return interrupted


def interrupted_words(runs: int) -> str:
    """The run screen's warning that earlier runs were interrupted."""
    return (f"{runs} earlier run(s) had been interrupted (killed or stopped before finishing): recorded as "
            "interrupted; `turnover runs` lists them")


@contextmanager
def failures_recorded(settings: Settings, run_id: str):
    """Mark the run failed in ``marts.runs`` if the block raises (the error still propagates)."""
    try:
        yield
    except Exception as exc:
        with warehouse(settings) as con:
            outputs.fail_run(con, run_id, f"{type(exc).__name__}: {exc}")
        exc.turnover_failed_run = run_id  # the command line says the run was recorded only when it was
        raise


def run_summary(settings: Settings, run_id: str) -> dict:
    """The totals a run recorded (turns, flags, money at risk)."""
    with warehouse(settings, read_only=True) as con:
        return outputs.read_summary(con, run_id)


def list_runs(settings: Settings, limit: int = 20):
    """The latest runs recorded in the warehouse, newest first (``outputs.list_runs``)."""
    return outputs.list_runs(settings.warehouse_path, limit)


def verify_warehouse(settings: Settings) -> int:
    """Check every table of the warehouse reads back whole (``warehouse.verify``) before outputs are written from
    it; returns the tables checked."""
    with warehouse(settings, read_only=True) as con:
        return verify(con, settings.warehouse_path)


def record_run(settings: Settings, run_id: str, **fields) -> None:
    """Keep what the run saw and did on its record (``outputs.RUN_RECORD_FIELDS``)."""
    with warehouse(settings) as con:
        outputs.record_run(con, run_id, **fields)


def apply_retention(settings: Settings, as_of: date) -> dict[str, int]:
    """After a run: drop the per-series detail of runs past ``[retention] detail_days`` and compact scores past
    ``scores_days`` (``turnover.io.retention``); then, once the file has grown by ``compact_growth`` since its last
    rewrite, rewrite it without the space deleted rows left. Returns the runs thinned and rows deleted by table,
    and with a rewrite ``file_bytes_before`` and ``file_bytes_after``."""
    with warehouse(settings) as con:
        deleted = retention_io.apply(con, as_of, settings.forecast.period, settings.retention.detail_days,
                                     settings.retention.scores_days, settings.tracking.drift_window_periods)
        last_bytes = retention_io.last_file_bytes(con)
    if deleted["runs_thinned"] or deleted.get(schema.FORECAST_ACCURACY):
        log.info("retention: %d earlier runs' per-series tables dropped; %d scores compacted", deleted["runs_thinned"],
                 deleted.get(schema.FORECAST_ACCURACY, 0))
    rewritten = retention_io.compact_when_grown(settings.warehouse_path, settings.retention.compact_growth, last_bytes,
                                                memory_limit=settings.execution.duckdb_memory_limit,
                                                threads=settings.execution.duckdb_threads)
    if rewritten:
        deleted.update(file_bytes_before=rewritten[0], file_bytes_after=rewritten[1])
        log.info("retention: warehouse file rewritten without the space deleted rows left: %.1f MiB -> %.1f MiB",
                 rewritten[0] / 2**20, rewritten[1] / 2**20)
    return deleted
