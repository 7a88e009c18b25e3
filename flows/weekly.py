"""Weekly par levels: load dispensing and reference data, build demand, forecast, set par levels, export.

Each task calls one step of :mod:`turnover.pipeline`, which opens its own warehouse connection and
returns something small. Loads skip files already seen and run outputs replace their own
partition, so a retried task does not duplicate anything.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from turnover import pipeline
from turnover.settings import Settings, load_settings


@task(cache_policy=NO_CACHE)
def prepare_demo(settings: Settings) -> dict[str, list[str] | str]:
    last_sunday = date.today() - timedelta(days=date.today().weekday() + 1)
    files = pipeline.ensure_demo(settings, end=last_sunday)
    return {"history": [str(p) for p in files.history], "catalog": str(files.catalog), "on_hand": str(files.on_hand),
            "stockouts": str(files.stockouts), "closures": str(files.closures), "recalls": str(files.recalls),
            "shortages": str(files.shortages), "signals": {"ilinet": str(files.ilinet)}}


@task(cache_policy=NO_CACHE, retries=1)
def load_history(settings: Settings, paths: list[str], mapping: str | None) -> list[str]:
    return [report.summary() for report in pipeline.load_history(settings, paths, mapping)]


@task(cache_policy=NO_CACHE, retries=1)
def load_reference(settings: Settings, files: dict[str, str | None]) -> dict[str, int]:
    return pipeline.load_reference(settings, **files)


@task(cache_policy=NO_CACHE, retries=1)
def load_signals(settings: Settings, files: dict[str, str]) -> dict[str, int]:
    return pipeline.load_signals(settings, files)


@task(cache_policy=NO_CACHE)
def build_demand(settings: Settings, run_id: str, as_of: date | None) -> date:
    as_of = pipeline.resolve_as_of(settings, as_of)
    pipeline.start_run(settings, run_id, as_of)
    pipeline.build_demand(settings, as_of)
    return as_of


@task(cache_policy=NO_CACHE, retries=1)
def forecast(settings: Settings, run_id: str, as_of: date) -> int:
    return pipeline.forecast(settings, run_id, as_of)


@task(cache_policy=NO_CACHE, retries=1)
def set_par_levels(settings: Settings, run_id: str, as_of: date) -> int:
    return pipeline.set_par_levels(settings, run_id, as_of)


@task(cache_policy=NO_CACHE, retries=1)
def export(settings: Settings, run_id: str, as_of: date) -> list[str]:
    return [str(p) for p in pipeline.export(settings, run_id, as_of)]


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
) -> dict:
    """Load dispensing, build demand, forecast, set par levels, export the CSVs.

    Args:
        history: dispensing exports (CSV, CSV.GZ, Parquet) to load; already-loaded files are skipped.
        catalog, on_hand, stockouts, closures, recalls, shortages: reference snapshots replacing the current
            ones, if given (on hand per drug or by lot; recalls and shortages in the openFDA forms).
        signals: external weekly signals as ``{name: FluView CSV}`` (names configured in turnover.toml).
        as_of: last day of history to use; default the latest dispensing date loaded.
        demo: use (and generate if absent) the synthetic demo pharmacy.
        mapping: force a column mapping by name instead of choosing by header.
        config: a ``turnover.toml``; overrides: settings on top of it (e.g. ``{"warehouse_path": ...}``).
    """
    settings = load_settings(config, **(overrides or {}))
    history = list(history or [])
    reference = {"catalog": catalog, "on_hand": on_hand, "stockouts": stockouts, "closures": closures,
                 "recalls": recalls, "shortages": shortages}
    if demo:
        files = prepare_demo(settings)
        history = history or files["history"]
        reference = {kind: path or files[kind] for kind, path in reference.items()}
        signals = signals or files["signals"]
    run_id = str(flow_run.get_id() or "local")
    loads = load_history(settings, history, mapping) if history else []
    counts = load_reference(settings, reference)
    if signals:
        counts |= load_signals(settings, signals)
    as_of = build_demand(settings, run_id, as_of)
    with pipeline.failures_recorded(settings, run_id):  # a run that fails from here says so in `turnover runs`
        n_series = forecast(settings, run_id, as_of)
        n_pars = set_par_levels(settings, run_id, as_of)
        paths = export(settings, run_id, as_of)
    return {"run_id": run_id, "as_of": as_of.isoformat(), "loads": loads, "reference": counts,
            "series": n_series, "par_rows": n_pars, "outputs": paths, "output_dir": str(Path(settings.output_dir)),
            "totals": pipeline.run_summary(settings, run_id)}
