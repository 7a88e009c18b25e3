"""Weekly par levels: load dispensing and reference data, build demand, score last weeks' forecasts,
forecast, set par levels, export the CSVs and the report, and publish the run summary.

Each task calls one step of :mod:`turnover.pipeline`, which opens its own warehouse connection and
returns something small. Loads skip files already seen and run outputs replace their own
partition, so a retried task does not duplicate anything (tests/test_faults.py runs each retried
step twice); ``build_demand`` (it starts the run) and ``publish_summary`` (an artifact) are not
retried. The flow holds the warehouse from start to end: a second run is told it is busy. The
per-series work inside ``forecast`` runs as batch tasks on the task runner ``[execution]`` names
(``flows.execution``).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.execution import batches_on_task_runner
from turnover import __version__, pipeline
from turnover.io.load_report import LoadReport
from turnover.pipeline.runlog import StepClock
from turnover.reporting.digest import to_markdown
from turnover.settings import Settings, load_settings

# Prefect hands the domain's records (PREFECT_LOGGING_EXTRA_LOGGERS=turnover) to the run logs, but leaves the
# logger at the root's level (WARNING): the steps' INFO lines would never reach Prefect's UI.
if logging.getLogger("turnover").level == logging.NOTSET:
    logging.getLogger("turnover").setLevel(logging.INFO)


@task(cache_policy=NO_CACHE)
def prepare_demo(settings: Settings) -> dict[str, list[str] | str]:
    files = pipeline.ensure_demo(settings)
    return {"history": [str(p) for p in files.history], "catalog": str(files.catalog), "on_hand": str(files.on_hand),
            "stockouts": str(files.stockouts), "closures": str(files.closures), "recalls": str(files.recalls),
            "shortages": str(files.shortages), "signals": {"ilinet": str(files.ilinet)}}


@task(cache_policy=NO_CACHE, retries=1)
def load_history(settings: Settings, paths: list[str], mapping: str | None, replaces: list[str]) -> list[LoadReport]:
    return pipeline.load_history(settings, paths, mapping, replaces)


@task(cache_policy=NO_CACHE, retries=1)
def load_reference(settings: Settings, files: dict[str, str | None]) -> dict[str, int]:
    return pipeline.load_reference(settings, **files)


@task(cache_policy=NO_CACHE, retries=1)
def load_signals(settings: Settings, files: dict[str, str]) -> dict[str, int]:
    return pipeline.load_signals(settings, files)


@task(cache_policy=NO_CACHE)
def start_run(settings: Settings, run_id: str, as_of: date | None, locations: list[str] | None) -> tuple[date, int]:
    """The run's as-of date (checked against the dispensing held), the run recorded as started; and how many
    earlier runs were found interrupted."""
    as_of = pipeline.resolve_as_of(settings, as_of, locations=locations)
    return as_of, pipeline.start_run(settings, run_id, as_of)


@task(cache_policy=NO_CACHE)
def build_demand(settings: Settings, as_of: date, locations: list[str] | None) -> int:
    return pipeline.build_demand(settings, as_of, locations)


@task(cache_policy=NO_CACHE, retries=1)
def score_forecasts(settings: Settings, run_id: str, as_of: date) -> dict:
    return pipeline.score_forecasts(settings, run_id, as_of)


@task(cache_policy=NO_CACHE, retries=1)
def forecast(settings: Settings, run_id: str, as_of: date) -> int:
    with batches_on_task_runner(settings.execution) as map_batches:
        return pipeline.forecast(settings, run_id, as_of, map_batches=map_batches)


@task(cache_policy=NO_CACHE, retries=1)
def set_par_levels(settings: Settings, run_id: str, as_of: date) -> int:
    return pipeline.set_par_levels(settings, run_id, as_of)


@task(cache_policy=NO_CACHE, retries=1)
def export(settings: Settings, run_id: str, as_of: date) -> tuple[list[str], str]:
    """The files written, and the run summary in markdown, made from the digest the report was made from; nothing
    is written from a damaged warehouse."""
    pipeline.verify_warehouse(settings)
    paths, digest = pipeline.export_digest(settings, run_id, as_of)
    paths = [str(p) for p in paths]
    return paths, to_markdown(digest, report_path(paths))


@task(cache_policy=NO_CACHE, retries=1)
def record_run(settings: Settings, run_id: str, fields: dict) -> None:
    pipeline.record_run(settings, run_id, **fields)


@task(cache_policy=NO_CACHE, retries=1)
def apply_retention(settings: Settings, as_of: date) -> dict[str, int]:
    return pipeline.apply_retention(settings, as_of)


def report_path(paths: list[str]) -> str | None:
    """The HTML run report among the files written."""
    return next((p for p in paths if p.endswith(".html")), None)


@task(cache_policy=NO_CACHE)
def publish_summary(summary: str) -> str:
    """The run summary (markdown) as a Prefect artifact (key ``weekly-par-levels``: one history per deployment)."""
    create_markdown_artifact(markdown=summary, key="weekly-par-levels", description="Par levels: totals, changes, flags")
    return summary


@flow(name="weekly-par-levels")
def weekly_par_levels(
    history: list[str] | None = None,
    catalog: str | None = None,
    on_hand: str | None = None,
    stockouts: str | None = None,
    closures: str | None = None,
    recalls: str | None = None,
    shortages: str | None = None,
    signals: dict[str, str] | None = None,
    as_of: date | None = None,
    demo: bool = False,
    mapping: str | None = None,
    config: str | None = None,
    overrides: dict | None = None,
    replaces: list[str] | None = None,
) -> dict:
    """Load dispensing, build demand, score earlier forecasts, forecast, set par levels, export the CSVs and
    the report, record the run, publish its summary.

    Args:
        history: dispensing exports (CSV, CSV.GZ, Parquet) to load; already-loaded files are skipped.
        catalog, on_hand, stockouts, closures, recalls, shortages: reference snapshots replacing the current
            ones, if given (on hand per drug or by lot; recalls and shortages in the openFDA forms).
        signals: external weekly signals as ``{name: FluView CSV}`` (names configured in turnover.toml).
        as_of: last day of history to use; default the latest dispensing date loaded.
        demo: use (and generate if absent) the synthetic demo pharmacy.
        mapping: force a column mapping by name instead of choosing by header.
        replaces: earlier exports whose rows the new history replaces (all of them), e.g. a file re-sent
            under another name.
        config: a ``turnover.toml``; overrides: settings on top of it (e.g. ``{"warehouse_path": ...}``).
    """
    settings = load_settings(config, **(overrides or {}))
    if demo:  # the demo has a warehouse and output folder of its own unless the overrides name others
        settings = settings.for_demo(overrides or {})
    # One run per warehouse at a time: a second is told the warehouse is busy, before any work.
    with pipeline.exclusive_run(settings):
        parameters = {"history": history, "catalog": catalog, "on_hand": on_hand, "stockouts": stockouts,
                      "closures": closures, "recalls": recalls, "shortages": shortages, "signals": signals,
                      "as_of": as_of, "demo": demo, "mapping": mapping, "config": config, "overrides": overrides,
                      "replaces": replaces}
        history = list(history or [])
        reference = {"catalog": catalog, "on_hand": on_hand, "stockouts": stockouts, "closures": closures,
                     "recalls": recalls, "shortages": shortages}
        clock = StepClock()
        if demo:
            with clock("prepare demo"):
                files = prepare_demo(settings)
            history = history or files["history"]
            reference = {kind: path or files[kind] for kind, path in reference.items()}
            signals = signals or files["signals"]
        run_id = str(flow_run.get_id() or "local")
        with clock("load history"):
            loads = load_history(settings, history, mapping, replaces or []) if history else []
        with clock("load reference"):
            counts = load_reference(settings, reference)
            if signals:
                counts |= load_signals(settings, signals)
        locations, warnings = pipeline.run_scope(settings, loads)
        with clock("build demand"):
            as_of, interrupted = start_run(settings, run_id, as_of, locations)
        warnings += [pipeline.interrupted_words(interrupted)] if interrupted else []
        record = {"package_version": __version__, "parameters": parameters,
                  "inputs": pipeline.input_records(loads, {**reference, **(signals or {})}), **pipeline.row_accounting(loads)}
        with pipeline.failures_recorded(settings, run_id):  # a run that fails from here says so in `turnover runs`
            try:
                with clock("build demand"):
                    build_demand(settings, as_of, locations)
                with clock("score forecasts"):
                    scored = score_forecasts(settings, run_id, as_of)
                with clock("forecast"):
                    n_series = forecast(settings, run_id, as_of)
                with clock("par levels"):
                    n_pars = set_par_levels(settings, run_id, as_of)
                with clock("export"):
                    paths, summary = export(settings, run_id, as_of)
            finally:
                record_run(settings, run_id, record | {"step_seconds": clock.seconds})
        with clock("retention"):  # after the run is complete: what the warehouse keeps of earlier runs
            apply_retention(settings, as_of)
        publish_summary(summary)
        return {"run_id": run_id, "as_of": as_of.isoformat(), "loads": [r.summary() for r in loads], "warnings": warnings,
                "accounting": record, "reference": counts, "series": n_series, "par_rows": n_pars, "outputs": paths,
                "output_dir": str(Path(settings.output_dir)), "report": report_path(paths), "scored": scored,
                "step_seconds": clock.seconds, "totals": pipeline.run_summary(settings, run_id)}
