"""The methods of ``benchmarks/panels.py``: our engine through the production run steps, and statsforecast.

Our engine runs as ``turnover run --history <panel>.csv --as-of D [--period month] [--horizon H]`` runs it:
the panel is written once as a dispensing CSV, loaded with ``pipeline.load_history`` into a warehouse of its
own, and at each origin the weekly flow's steps up to the forecast run in the flow's order (``run_scope``,
``resolve_as_of``, ``start_run``, ``build_demand``, ``forecast``; without Prefect, serially; the forecast
scoring, par levels and exports, which do not change the forecast, are left out). The run's
``marts.forecast`` gives the point forecast (``mean``) and the 95% quantile (``q95``), ``marts.demand_class``
the classes. Origins run oldest first; they are at least a month apart, so every run reselects its models
(``forecast.reselect_every_days`` is 28).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from panel_data import KEYS, Panel, write_history
from scoring import FallbackCounter, Forecasts

from turnover import pipeline, schema
from turnover.io import outputs
from turnover.io.warehouse import open_warehouse
from turnover.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
LEVEL = 90  # statsforecast's central 90% interval: its upper end is the 95% quantile
FREQ = {"week": "W-MON", "month": "MS"}


def engine_settings(panel: Panel, workdir: Path) -> Settings:
    """Settings as the command line builds them for this panel (``--period``, ``--horizon``), the warehouse and
    outputs in ``workdir``."""
    overrides: dict = {"warehouse_path": workdir / "warehouse.duckdb", "output_dir": workdir / "out",
                       "forecast": {"period": panel.period, "horizon": panel.horizon}}
    if panel.max_abs_quantity:
        overrides["ingest"] = {"max_abs_quantity_units": panel.max_abs_quantity}
    return load_settings(REPO / "turnover.toml", **overrides)


def engine_runs(panel: Panel, cuts: list[int], workdir: Path, changed=None) -> tuple[dict, dict, list, str]:
    """Per cutoff, the run's forecast and demand_class frames; the history file's load reports; notes (settings, failed runs).

    ``changed`` (day, factor) scales the history rows from that day on (``write_history``)."""
    settings = engine_settings(panel, workdir)
    history = write_history(panel, workdir / f"{panel.name}_history.csv", changed)
    loads = pipeline.load_history(settings, [history])
    locations, _ = pipeline.run_scope(settings, loads)
    forecasts, classes, notes = {}, {}, []
    for c in sorted(cuts):
        with pipeline.exclusive_run(settings):
            as_of = pipeline.resolve_as_of(settings, panel.as_of(c), locations=locations)
            run_id = f"bench-{panel.name}-{as_of}"
            pipeline.start_run(settings, run_id, as_of)
            pipeline.build_demand(settings, as_of, locations)
            try:
                pipeline.forecast(settings, run_id, as_of)
            except Exception as exc:  # the run fails at this origin: every series falls back there (counted)
                notes.append(f"the run as of {as_of} failed ({type(exc).__name__}: {exc}); its series fall back")
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            forecasts[c] = outputs.read_run_table(con, schema.FORECAST, run_id)
            classes[c] = outputs.read_run_table(con, schema.DEMAND_CLASS, run_id)
    return forecasts, classes, loads, "; ".join(notes)


def run_engine(panel: Panel, cuts: list[int], pairs: dict[int, list[int]], workdir: Path) -> Forecasts:
    """Our engine at every cutoff; a series it leaves out falls back (counted) to the caller's fallback."""
    out = Forecasts(has_quantile=True)
    counter = FallbackCounter()
    log = logging.getLogger("turnover")
    log.addHandler(counter)
    start = time.perf_counter()
    try:
        forecasts, classes, loads, note = engine_runs(panel, cuts, workdir)
    finally:
        log.removeHandler(counter)
    out.seconds = time.perf_counter() - start
    out.notes += [note] if note else []
    rejected = sum(r.rows_rejected for r in loads)
    if rejected:
        out.notes.append(f"{rejected} dispensing rows rejected on load")
    index = {k: j for j, k in enumerate(zip(panel.keys["location_id"], panel.keys["drug_id"], strict=True))}
    for c, fc in forecasts.items():
        out.series_fitted += len(pairs[c])
        first = panel.starts[c].date()
        for key, g in fc.groupby(KEYS, sort=False):
            j = index.get(key)
            if j is None or j not in pairs[c]:
                continue
            g = g[pd.to_datetime(g["period_start"]) >= pd.Timestamp(first)]
            assert pd.Timestamp(g["period_start"].iloc[0]) == panel.starts[c], "first forecast period != cutoff"
            out.point[j, c] = np.clip(g["mean"].to_numpy(float)[: panel.horizon], 0, None)
            out.q95[j, c] = np.clip(g["q95"].to_numpy(float)[: panel.horizon], 0, None)
            out.models[j, c] = g["model"].iloc[0]
    latest = max([c for c in cuts if len(classes[c])], default=max(cuts))  # the latest origin that ran
    chosen = pd.DataFrame([(*panel.keys.iloc[j], m) for (j, c), m in out.models.items() if c == latest],
                          columns=[*KEYS, "model"])
    out.classes = classes[latest].merge(chosen, on=KEYS, how="left")
    out.fallbacks = counter.count
    return out


# --- statsforecast --------------------------------------------------------------------------------


def statsforecast_models(season: int, with_arima: bool) -> list[tuple[str, object, bool]]:
    """(name, factory, has intervals) of the statsforecast anchors."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, CrostonOptimized, SeasonalNaive

    models = [
        ("SeasonalNaive", lambda: SeasonalNaive(season_length=season), True),
        ("AutoETS", lambda: AutoETS(season_length=season), True),
        ("MSTL", lambda: MSTL(season_length=season), True),
        ("CrostonOptimized", lambda: CrostonOptimized(), False),
        ("AutoARIMA", lambda: AutoARIMA(season_length=season), True),
    ]
    return [m for m in models if with_arima or m[0] != "AutoARIMA"]


def long_frame(panel: Panel, c: int, series: list[int]) -> pd.DataFrame:
    """statsforecast's ``unique_id, ds, y`` of the histories before cutoff ``c``."""
    frames = [pd.DataFrame({"unique_id": str(j), "ds": panel.starts[c - len(y): c], "y": y})
              for j in series for y in [panel.history(j, c)]]
    return pd.concat(frames, ignore_index=True)


def sf_arrays(model, name: str, df: pd.DataFrame, panel: Panel, with_level: bool) -> dict:
    """Per unique_id: (point, hi-90) over the horizon, from statsforecast's own API."""
    from statsforecast import StatsForecast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = StatsForecast(models=[model], freq=FREQ[panel.period], n_jobs=1).forecast(
            df=df, h=panel.horizon, level=[LEVEL] if with_level else None)
    fc = fc.sort_values(["unique_id", "ds"])
    return {str(uid): (g[name].to_numpy(float), g[f"{name}-hi-{LEVEL}"].to_numpy(float) if with_level else None)
            for uid, g in fc.groupby("unique_id", sort=False)}


def run_model(name: str, factory, with_level: bool, df: pd.DataFrame, panel: Panel) -> tuple[dict, float]:
    """The model on the whole panel at once; if that raises, per series (a failing series is left out)."""
    start = time.perf_counter()
    try:
        arrays = sf_arrays(factory(), name, df, panel, with_level)
    except Exception:  # any failure on the panel: retry per series, the failing ones fall back
        arrays = {}
        for _, g in df.groupby("unique_id", sort=False):
            try:
                arrays.update(sf_arrays(factory(), name, g, panel, with_level))
            except Exception:  # this series falls back (counted by the caller)
                pass
    return arrays, time.perf_counter() - start


def fallback_arrays(df: pd.DataFrame, panel: Panel) -> dict:
    """SeasonalNaive, or Naive where the history is under a season (its forecast is NaN there)."""
    from statsforecast.models import Naive, SeasonalNaive

    seasonal = sf_arrays(SeasonalNaive(season_length=panel.season), "SeasonalNaive", df, panel, True)
    naive = sf_arrays(Naive(), "Naive", df, panel, True)
    return {uid: seasonal[uid] if np.isfinite(seasonal[uid][0]).all() and np.isfinite(seasonal[uid][1]).all()
            else naive[uid] for uid in naive}


def run_statsforecast(panel: Panel, pairs: dict[int, list[int]], models: list) -> tuple[dict[str, Forecasts], dict]:
    """Every anchor at every cutoff with per-series fallbacks; and the fallback forecasts per (series, cutoff)."""
    results = {name: Forecasts(has_quantile=with_level) for name, _, with_level in models}
    fallback: dict = {}
    for c, series in pairs.items():
        df = long_frame(panel, c, series)
        backup = fallback_arrays(df, panel)
        fallback.update({(j, c): backup[str(j)] for j in series})
        for name, factory, with_level in models:
            arrays, seconds = run_model(name, factory, with_level, df, panel)
            res = results[name]
            res.seconds += seconds
            res.series_fitted += len(series)
            for j in series:
                point, hi = arrays.get(str(j), (None, None))
                ok = point is not None and len(point) == panel.horizon and np.isfinite(point).all()
                if not ok or (with_level and not np.isfinite(hi).all()):
                    point, hi = backup[str(j)]
                    res.fallbacks += 1
                res.point[j, c] = np.clip(point, 0, None)
                if with_level:
                    res.q95[j, c] = np.clip(hi, 0, None)
    return results, fallback
