"""The load steps: dispensing exports, reference files (catalog, on hand, recalls, shortages, stockouts, closures),
external signals, the demo's files; which locations and as-of date a run covers; what the run read.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from turnover import calendar
from turnover.demo.files import DemoFiles, demo_files, write_demo
from turnover.demo.synthetic import generate_pharmacy
from turnover.io import scope
from turnover.io.ingest import load_dispensing
from turnover.io.load_report import LoadReport
from turnover.io.reference import (
    load_catalog,
    load_closures,
    load_on_hand,
    load_recalls,
    load_shortages,
    load_stockouts,
)
from turnover.io.signals import load_signal
from turnover.io.warehouse import file_sha256
from turnover.pipeline.runs import warehouse
from turnover.settings import Settings

log = logging.getLogger(__name__)


def ensure_demo(settings: Settings, end: date | None = None) -> DemoFiles:
    """The demo files in ``settings.demo_dir``, generated (ending on ``end``, default last Sunday) if any is
    missing."""
    files = demo_files(settings.demo_dir)
    if files.exist():
        log.info("demo data found in %s", settings.demo_dir)
        return files
    end = end or calendar.last_sunday()
    log.info("generating demo data in %s (ending %s)", settings.demo_dir, end)
    return write_demo(generate_pharmacy(end), settings.demo_dir)


def load_history(settings: Settings, paths: list[str | Path], mapping: str | None = None,
                 replaces: list[str | Path] | None = None) -> list[LoadReport]:
    """Load dispensing exports; files already loaded are skipped. ``replaces`` names earlier files whose rows
    the first export loaded replaces (``io.resend``)."""
    with warehouse(settings) as con:
        return load_dispensing(con, list(paths), settings.ingest, mapping, replaces=replaces or ())


REFERENCE_LOADERS = {
    "catalog": load_catalog, "on_hand": load_on_hand, "stockouts": load_stockouts, "closures": load_closures,
    "recalls": load_recalls, "shortages": load_shortages,
}


def load_reference(settings: Settings, **files: str | Path | None) -> dict[str, int]:
    """Replace each reference snapshot given (``catalog``, ``on_hand``, ``stockouts``, ``closures``,
    ``recalls``, ``shortages``)."""
    counts = {}
    with warehouse(settings) as con:
        for kind, path in files.items():
            if path:
                counts[kind] = REFERENCE_LOADERS[kind](con, path)
    return counts


def load_signals(settings: Settings, files: dict[str, str | Path]) -> dict[str, int]:
    """Load each configured signal's FluView export given as ``{name: path}``; returns weeks loaded."""
    links = {link.name: link for link in settings.forecast.signals}
    unknown = sorted(set(files) - set(links))
    if unknown:
        raise ValueError(f"signal(s) {unknown} not configured (configured: {sorted(links)})")
    with warehouse(settings) as con:
        return {name: load_signal(con, name, path, links[name].value_column) for name, path in files.items()}


def run_scope(settings: Settings, loads: list[LoadReport]) -> tuple[list[str] | None, list[str]]:
    """The locations this run plans, and warnings for the run screen.

    Given history files, the run is about their locations (``io.scope``): the warehouse's other locations are
    neither planned nor counted, and a warning names them. Given none (None), it plans every location that
    dispensed in the ``policy.usage_window_days`` before its as-of date.
    """
    if not loads:
        return None, []
    with warehouse(settings, read_only=True) as con:
        locations = scope.file_locations(con, [r.file_sha256 for r in loads])
        others = sorted(set(scope.all_locations(con)) - set(locations))
    if not locations:
        return None, ["no row of this run's history files is in the warehouse (all rejected or replaced): planning "
                      "the locations that dispensed in the last year"]
    if not others:
        return locations, []
    named = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return locations, [f"{settings.warehouse_path} also holds dispensing at {len(others)} location(s) not in this "
                       f"run's history ({named}): not planned; give another pharmacy its own --db"]


def resolve_as_of(settings: Settings, as_of: date | None, today: date | None = None,
                  locations: list[str] | None = None) -> date:
    """``as_of`` if given, else the latest dispensing date loaded at ``locations`` (default all; never after today).

    Raises:
        AsOfError: nothing is loaded, or ``as_of`` is before the first dispensing day or more than
            ``forecast.max_days_after_last_dispensing`` after the last (the message gives the range held).
    """
    with warehouse(settings) as con:
        days = scope.dispensing_days(con, locations, today)
    return scope.check_as_of(as_of, days, settings.warehouse_path, settings.forecast.max_days_after_last_dispensing)


def input_records(loads: list[LoadReport], reference: dict[str, str | Path | None]) -> list[dict]:
    """What the run read, for its record: each dispensing file with its hash and row accounting, and each
    reference file with its hash."""
    records = [{"kind": "dispensing", "path": r.file_path, "sha256": r.file_sha256, "rows_read": r.rows_read,
                "rows_loaded": r.rows_loaded, "rows_rejected": r.rows_rejected, "already_loaded": r.already_loaded,
                "encoding": r.encoding, "refused_columns": list(r.refused_columns),
                "rows_overlapping": r.rows_overlapping, "replaced_files": list(r.replaced_files),
                "rows_replaced": r.rows_replaced, "drugs_not_in_catalog": len(r.drugs_not_in_catalog or ()),
                "suspect_ndcs": len(r.suspect_ndcs)}
               for r in loads]
    records += [{"kind": kind, "path": str(path), "sha256": file_sha256(path)}
                for kind, path in reference.items() if path]
    return records


def row_accounting(loads: list[LoadReport]) -> dict[str, int]:
    """Rows read, loaded and rejected by this run's loads (files already loaded add nothing)."""
    fresh = [r for r in loads if not r.already_loaded]
    return {"rows_read": sum(r.rows_read for r in fresh), "rows_loaded": sum(r.rows_loaded for r in fresh),
            "rows_rejected": sum(r.rows_rejected for r in fresh)}
