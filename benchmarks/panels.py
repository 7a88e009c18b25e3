"""Forecast accuracy of our engine, run as ``turnover run`` runs it, against statsforecast on four real panels.

    .venv/bin/python benchmarks/panels.py [--panels pharma,pbs,nhs,hospital] [--max-series N] [--origins K]
                                          [--arima] [--quick] [--results DIR]

Panels (read from ``../shared/datasets/``, skipped with a note when absent; ``benchmarks/panel_data.py``):
pharma_sales (one pharmacy x 8 ATC groups, weekly, horizon 13), PBS Australia (scripts by Concession/Type x
ATC2, monthly, 12), NHS England antidepressants (items by region x substance, monthly, 6: the negative
control, no season), hospital products (patients by entity x product, monthly, 12).

Protocol, the same for every method: K rolling origins (default 4) one horizon apart, the latest leaving
exactly one horizon, so the test windows tile the end of each panel; at each origin every method sees only
the periods before it. Ours runs through the production steps (``benchmarks/panel_methods.py``) with the
settings the command line builds (``--period month``, the horizon, and ``[ingest] max_abs_quantity_units``
raised to 1e9 for the national panels); its forecast is ``mean``, its 95% quantile ``q95``. statsforecast:
SeasonalNaive, AutoETS, MSTL, CrostonOptimized (no intervals: its q95 scores are NaN) and AutoARIMA (monthly
panels; weekly, season 52, only with ``--arima``: slow); the 95% quantile is ``hi-90``. A model that fails
or gives NaN on a series falls back to SeasonalNaive there (Naive under a season of history), counted;
so does a series our engine leaves out.

Metrics per series x origin, then averaged: MASE (MAE / in-sample MAE of the seasonal naive, season 52 or
12, as ``benchmarks/accuracy.py``: one-step naive if that is 0 or undefined, then the mean, then 1), scaled
pinball loss at 0.95 (same scale), q95 coverage (share of actuals <= q95). Classes: our engine's own
(``marts.demand_class``) at the latest origin. Targets (issue 13): our MASE <= 0.90 x the best statsforecast
model's; q95 coverage in [93%, 97%]; our scaled pinball <= the best anchor's. Writes
``<panel>_methods.csv``, ``<panel>_classes.csv`` and ``<panel>_series.csv`` (every series x origin x method)
to ``--results`` (default ``benchmarks/results/panels/``; a ``.gitignore`` there keeps them out of git).
``OMP_NUM_THREADS=1`` unless set.
"""

from __future__ import annotations

import os

# One OpenMP thread unless the caller says otherwise (see benchmarks/accuracy.py). Before scikit-learn loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from panel_data import KEYS, LOADERS, Panel, origins  # noqa: E402
from panel_methods import run_engine, run_statsforecast, statsforecast_models  # noqa: E402
from scoring import Forecasts, scale_of  # noqa: E402

from turnover.forecasting.candidates import SEASONAL_MODELS  # noqa: E402
from turnover.settings import ForecastSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "panels"
OURS = "ours (turnover)"
TAU = 0.95
MASE_TARGET, COVERAGE_TARGET = 0.90, (0.93, 0.97)
#: Models that can carry a yearly season: the engine's seasonal list, the signal's and the borrowed profile.
SEASONAL_CAPABLE = (*SEASONAL_MODELS, "signal_regression", "borrowed_profile")


def score_rows(panel: Panel, pairs: dict[int, list[int]], methods: dict[str, Forecasts], fallback: dict) -> pd.DataFrame:
    """One row per method x series x origin: MASE, scaled pinball at 0.95, q95 coverage (NaN without q95)."""
    rows = []
    for c, series in pairs.items():
        for j in series:
            y = panel.values[c: c + panel.horizon, j]
            scale = scale_of(panel.history(j, c), panel.season)
            for name, fc in methods.items():
                if (j, c) not in fc.point:  # only our engine can leave a series out
                    fc.point[j, c], fc.q95[j, c] = fallback[j, c]
                    fc.fallbacks += 1
                err = y - fc.point[j, c]
                row = {"method": name, "location_id": panel.keys.iloc[j, 0], "drug_id": panel.keys.iloc[j, 1],
                       "origin": panel.starts[c].date(), "scale": scale, "mase": np.mean(np.abs(err)) / scale,
                       "pinball_q95": np.nan, "coverage_q95": np.nan, "model": fc.models.get((j, c), name)}
                if fc.has_quantile:
                    diff = y - fc.q95[j, c]
                    row["pinball_q95"] = np.mean(np.maximum(TAU * diff, (TAU - 1) * diff)) / scale
                    row["coverage_q95"] = np.mean(y <= fc.q95[j, c])
                rows.append(row)
    return pd.DataFrame(rows)


def method_table(scores: pd.DataFrame, methods: dict[str, Forecasts]) -> pd.DataFrame:
    """Rows: methods; columns: MASE, scaled pinball q95, coverage q95, seconds/series, fallbacks."""
    means = scores.groupby("method", sort=False)[["mase", "pinball_q95", "coverage_q95"]].mean()
    means["seconds_per_series"] = [methods[m].seconds / max(methods[m].series_fitted, 1) for m in means.index]
    means["fallbacks"] = [methods[m].fallbacks for m in means.index]
    return means


def class_table(scores: pd.DataFrame, classes: pd.DataFrame) -> pd.DataFrame:
    """The metrics per (our engine's) demand class at the latest origin and method, with series counts."""
    tagged = scores.merge(classes[[*KEYS, "demand_class"]], on=KEYS, how="left").fillna({"demand_class": "none"})
    table = tagged.groupby(["demand_class", "method"], sort=False)[["mase", "pinball_q95", "coverage_q95"]].mean()
    series = tagged.drop_duplicates([*KEYS, "demand_class"]).groupby("demand_class").size().rename("series")
    return table.join(series, on="demand_class").sort_index()


def targets(table: pd.DataFrame) -> dict:
    """Our engine against the best statsforecast model per metric, and the issue-13 targets."""
    ours, anchors = table.loc[OURS], table.drop(index=OURS)
    best_mase = anchors["mase"].idxmin()
    with_q = anchors[anchors["pinball_q95"].notna()]
    best_pin = with_q["pinball_q95"].idxmin() if len(with_q) else None
    out = {"best_mase_model": best_mase, "mase_ratio": ours["mase"] / anchors.loc[best_mase, "mase"],
           "best_pinball_model": best_pin,
           "pinball_ratio": ours["pinball_q95"] / with_q.loc[best_pin, "pinball_q95"] if best_pin else np.nan,
           "coverage_q95": ours["coverage_q95"]}
    out["mase_ok"] = bool(out["mase_ratio"] <= MASE_TARGET)
    out["coverage_ok"] = bool(COVERAGE_TARGET[0] <= ours["coverage_q95"] <= COVERAGE_TARGET[1])
    out["pinball_ok"] = bool(out["pinball_ratio"] <= 1.0)
    return out


def seasonal_count(classes: pd.DataFrame) -> str:
    """How many series our engine took as seasonal (F_S over the threshold; a seasonal model chosen)."""
    threshold = ForecastSettings().seasonal_strength_threshold
    strong = int((classes["seasonality_strength"] >= threshold).sum())
    models = classes["model"].value_counts()
    seasonal_models = int(models[[m for m in models.index if m in SEASONAL_CAPABLE]].sum())
    return (f"{strong} of {len(classes)} series with seasonality_strength >= {threshold}; chosen models: "
            + ", ".join(f"{m} {n}" for m, n in models.items()) + f" ({seasonal_models} seasonal-capable)")


def evaluate(panel: Panel, n_origins: int, with_arima: bool | None, results: Path) -> dict:
    """Score every method on one panel, print its tables and write its CSVs; returns the target checks."""
    start = time.perf_counter()
    cuts = origins(panel, n_origins)
    pairs = {c: [j for j in range(len(panel.keys)) if len(panel.history(j, c))] for c in cuts}
    print(f"\n=== {panel.label}: {len(panel.keys)} series, {len(panel.starts)} {panel.period}s "
          f"{panel.starts[0].date()}..{panel.starts[-1].date()}; horizon {panel.horizon}, season {panel.season}")
    print(f"origins (first test period): {', '.join(str(panel.starts[c].date()) for c in cuts)}; "
          f"{sum(map(len, pairs.values()))} series x origin scored")
    arima = with_arima is True or (with_arima is None and panel.period == "month")
    if not arima:
        print("AutoARIMA skipped (--no-arima; on weekly data by default: slow at season 52, --arima includes it)")
    anchors, fallback = run_statsforecast(panel, pairs, statsforecast_models(panel.season, arima))
    print("statsforecast, seconds: " + ", ".join(f"{m} {f.seconds:.0f}" for m, f in anchors.items()), flush=True)
    with tempfile.TemporaryDirectory(prefix=f"panels-{panel.name}-") as workdir:
        ours = run_engine(panel, cuts, pairs, Path(workdir))
    methods = {OURS: ours, **anchors}
    scores = score_rows(panel, pairs, methods, fallback)
    table = method_table(scores, methods)
    classes = class_table(scores, ours.classes)
    checks = targets(table)
    for note in ours.notes:
        print(f"note: ours: {note}")
    print("CrostonOptimized has no intervals: its pinball and coverage are NaN")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nper demand class (ours, latest origin):")
    print(classes.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nours / best statsforecast: MASE {checks['mase_ratio']:.3f} (vs {checks['best_mase_model']}; target "
          f"<= {MASE_TARGET}: {'yes' if checks['mase_ok'] else 'NO'}), scaled pinball {checks['pinball_ratio']:.3f} "
          f"(vs {checks['best_pinball_model']}; target <= 1: {'yes' if checks['pinball_ok'] else 'NO'}), q95 coverage "
          f"{checks['coverage_q95']:.1%} (target 93-97%: {'yes' if checks['coverage_ok'] else 'NO'})")
    print(f"ours, classes at the latest origin: {ours.classes['demand_class'].value_counts().to_dict()}")
    print(f"ours, seasonality: {seasonal_count(ours.classes)}")
    results.mkdir(parents=True, exist_ok=True)
    (results / ".gitignore").write_text("# generated by benchmarks/panels.py: never committed\n*\n")
    table.to_csv(results / f"{panel.name}_methods.csv")
    classes.to_csv(results / f"{panel.name}_classes.csv")
    scores.to_csv(results / f"{panel.name}_series.csv", index=False)
    seconds = time.perf_counter() - start
    print(f"wall time {panel.name}: {seconds:.0f} s (ours {ours.seconds:.0f} s)")
    return {"panel": panel.name, **checks, "wall_seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", default=",".join(LOADERS), help="comma-separated, of " + ", ".join(LOADERS))
    parser.add_argument("--max-series", type=int, help="at most N series per panel, evenly spaced over the sorted keys")
    parser.add_argument("--origins", type=int, default=4, help="rolling origins per panel (default 4)")
    parser.add_argument("--arima", action="store_true", help="AutoARIMA(52) on the weekly panel too (slow)")
    parser.add_argument("--no-arima", action="store_true", help="no AutoARIMA at all (it is most of a monthly panel's time)")
    parser.add_argument("--quick", action="store_true", help="30 series per panel (unless --max-series), 2 origins")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the CSVs")
    args = parser.parse_args(argv)
    n_series = args.max_series or (30 if args.quick else None)
    n_origins = 2 if args.quick else args.origins
    print(f"threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {os.cpu_count()} CPUs; statsforecast n_jobs=1")
    start, checks = time.perf_counter(), []
    for name in args.panels.split(","):
        if name not in LOADERS:
            parser.error(f"unknown panel {name!r}; panels: {', '.join(LOADERS)}")
        panel = LOADERS[name]()
        if panel is None:
            print(f"\n=== {name}: dataset not found under ../shared/datasets; skipped")
            continue
        arima = False if args.no_arima else (True if args.arima else None)  # None: monthly panels only
        checks.append(evaluate(panel.take(n_series), n_origins, arima, args.results))
    if checks:
        summary = pd.DataFrame(checks).set_index("panel")
        summary.to_csv(args.results / "targets.csv")
        print("\n=== issue 13 targets, per panel")
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nwall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
