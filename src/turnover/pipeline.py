"""The weekly run's steps, one function each: what a flow task calls.

Each step opens its own warehouse connection, does its work through the io and domain modules,
and returns something small (counts, a date, paths). Steps are idempotent: a load skips files
already in the ledger, and a run's outputs replace that run's partition.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from turnover import calendar, schema
from turnover.forecast import ProtectionWindow, forecast_panel
from turnover.io import demand as demand_io
from turnover.io import outputs
from turnover.io.demo import DemoFiles, demo_files, write_demo
from turnover.io.ingest import LoadReport, load_dispensing
from turnover.io.reference import load_catalog, load_closures, load_on_hand, load_stockouts
from turnover.io.signals import load_signal, read_signals
from turnover.io.warehouse import open_warehouse
from turnover.policy import par_levels
from turnover.settings import Settings
from turnover.synthetic import generate_pharmacy

log = logging.getLogger(__name__)


def ensure_demo(settings: Settings, end: date) -> DemoFiles:
    """The demo files in ``settings.demo_dir``, generated (ending on ``end``) if any is missing."""
    files = demo_files(settings.demo_dir)
    if files.exist():
        log.info("demo data found in %s", settings.demo_dir)
        return files
    log.info("generating demo data in %s (ending %s)", settings.demo_dir, end)
    return write_demo(generate_pharmacy(end), settings.demo_dir)


def load_history(settings: Settings, paths: list[str | Path], mapping: str | None = None) -> list[LoadReport]:
    """Load dispensing exports; files already loaded are skipped."""
    with open_warehouse(settings.warehouse_path) as con:
        return load_dispensing(con, list(paths), settings.ingest, mapping)


REFERENCE_LOADERS = {
    "catalog": load_catalog, "on_hand": load_on_hand, "stockouts": load_stockouts, "closures": load_closures,
}


def load_reference(settings: Settings, **files: str | Path | None) -> dict[str, int]:
    """Replace each reference snapshot given (``catalog``, ``on_hand``, ``stockouts``, ``closures``)."""
    counts = {}
    with open_warehouse(settings.warehouse_path) as con:
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
    with open_warehouse(settings.warehouse_path) as con:
        return {name: load_signal(con, name, path, links[name].value_column) for name, path in files.items()}


def resolve_as_of(settings: Settings, as_of: date | None, today: date | None = None) -> date:
    """``as_of`` if given, else the latest dispensing date loaded (never after today).

    Raises:
        ValueError: nothing is loaded and no date was given.
    """
    if as_of is not None:
        return as_of
    with open_warehouse(settings.warehouse_path) as con:
        latest = demand_io.latest_dispensing_date(con, today)
    if latest is None:
        raise ValueError("no dispensing loaded: give --history files or --as-of")
    return latest


def start_run(settings: Settings, run_id: str, as_of: date) -> None:
    with open_warehouse(settings.warehouse_path) as con:
        outputs.start_run(con, run_id, as_of, settings.forecast.period, outputs.settings_json(settings))


@contextmanager
def failures_recorded(settings: Settings, run_id: str):
    """Mark the run failed in ``marts.runs`` if the block raises (the error still propagates)."""
    try:
        yield
    except Exception as exc:
        with open_warehouse(settings.warehouse_path) as con:
            outputs.fail_run(con, run_id, f"{type(exc).__name__}: {exc}")
        raise


def list_runs(settings: Settings, limit: int = 20):
    """The latest runs recorded in the warehouse, newest first (read-only)."""
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return outputs.read_runs(con, limit)


def build_demand(settings: Settings, as_of: date) -> int:
    """Rebuild the demand series and the series list for ``as_of``; returns the series count."""
    with open_warehouse(settings.warehouse_path) as con:
        return demand_io.build_demand_series(con, as_of, settings.forecast.period, settings.policy)


def forecast(settings: Settings, run_id: str, as_of: date) -> int:
    """Classify, backtest, choose and forecast every series; store every frame; returns the series count."""
    with open_warehouse(settings.warehouse_path) as con:
        panel = demand_io.read_demand_panel(con)
        series = demand_io.read_series(con)
        signals = signals_by_drug(con, settings)
    window = ProtectionWindow(
        lead_time_days=series["lead_time_days"].to_numpy(),
        review_period_days=settings.policy.review_period_days,
        service_level=settings.policy.service_level,
    )
    result = forecast_panel(panel, window, as_of, settings.forecast, signals)
    protection = result.protection.assign(
        service_level=settings.policy.service_level, review_period_days=settings.policy.review_period_days
    )
    with open_warehouse(settings.warehouse_path) as con:
        outputs.write_run_table(con, schema.FORECAST, run_id, result.forecast)
        outputs.write_run_table(con, schema.PROTECTION_DEMAND, run_id, protection)
        outputs.write_run_table(con, schema.DEMAND_CLASS, run_id, result.classes)
        outputs.write_run_table(con, schema.BACKTEST_SCORES, run_id, result.scores)
        outputs.write_run_table(con, schema.CALIBRATION, run_id, result.calibration)
    log.info("forecast %d series", len(protection))
    return len(protection)


def signals_by_drug(con, settings: Settings) -> dict[str, dict[int, float]]:
    """Each linked drug's signal keyed by absolute week index (weekly runs only)."""
    if settings.forecast.period != "week":
        return {}
    loaded = read_signals(con)
    catalog = con.execute(f"select drug_id, coalesce(atc_code, '') from {schema.CATALOG}").fetchall()
    out: dict[str, dict[int, float]] = {}
    for link in settings.forecast.signals:
        if link.name not in loaded:
            continue
        series = loaded[link.name]
        by_index = {calendar.period_index(day.date(), "week"): float(v) for day, v in series.items()}
        drugs = set(link.drug_ids) | {d for d, atc in catalog if any(atc.startswith(p) for p in link.atc_prefixes)}
        out.update({drug: by_index for drug in drugs})
    return out


def set_par_levels(settings: Settings, run_id: str) -> int:
    """Par levels for every series of the run; returns the row count."""
    with open_warehouse(settings.warehouse_path) as con:
        series = demand_io.read_series(con).merge(
            outputs.read_run_table(con, schema.DEMAND_CLASS, run_id), on=["location_id", "drug_id"], how="left"
        )
        protection = outputs.read_run_table(con, schema.PROTECTION_DEMAND, run_id)
        unit = "weeks" if settings.forecast.period == "week" else "months"
        pars = par_levels(series, protection, settings.policy, unit, settings.forecast.seasonal_strength_threshold)
        outputs.write_run_table(con, schema.PAR_LEVELS, run_id, pars)
    return len(pars)


def export(settings: Settings, run_id: str, as_of: date) -> list[Path]:
    """Write ``par_levels_<as_of>.csv``, ``forecast_<as_of>.csv`` and one par file per location."""
    out = Path(settings.output_dir)
    stamp = as_of.isoformat()
    with open_warehouse(settings.warehouse_path) as con:
        pars = outputs.read_run_table(con, schema.PAR_LEVELS, run_id)[list(schema.PAR_LEVEL_CSV_COLUMNS)]
        pars = pars.assign(seasonality_strength=pars["seasonality_strength"].round(2))
        classes = outputs.read_run_table(con, schema.DEMAND_CLASS, run_id)[["location_id", "drug_id", "demand_class"]]
        fc = outputs.read_run_table(con, schema.FORECAST, run_id).merge(classes, on=["location_id", "drug_id"])
        fc = fc[list(schema.FORECAST_CSV_COLUMNS)]
        written = [
            outputs.write_csv_atomic(pars, out / f"par_levels_{stamp}.csv"),
            outputs.write_csv_atomic(fc.round(3), out / f"forecast_{stamp}.csv"),
        ]
        for location, rows in pars.groupby("location_id", sort=True):
            name = f"par_levels_{stamp}_{outputs.safe_file_part(str(location))}.csv"
            written.append(outputs.write_csv_atomic(rows, out / "by_location" / name))
        outputs.finish_run(con, run_id, len(pars), [str(p) for p in written])
    return written
