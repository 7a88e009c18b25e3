"""Forecast accuracy of our engine side by side with Nixtla statsforecast models, in one run.

    .venv/bin/python benchmarks/accuracy.py [--quick] [--tiny] [--arima]

statsforecast is a benchmark-only extra: ``.venv/bin/pip install -e '.[bench]'``. Without it, only
our engine is scored (and a note says so).

Datasets (weekly ISO weeks, Monday start):
- real: ``../shared/datasets/pharma_sales/salesdaily.csv`` (one pharmacy, 8 ATC groups), partial
  first/last weeks dropped; skipped with a note when the file is absent;
- demo: ``turnover.demo.synthetic.generate_pharmacy(2026-11-22)``, weekly net demand per location x drug
  (returns netted, clipped at 0, zero-filled from each series' first week): 135 series.

Protocol: rolling origin, 13-week horizon, season 52. Four cutoffs 13 weeks apart, the latest
leaving exactly 13 weeks, so the test windows cover the last 52 weeks. At each cutoff every method
sees only the history before it. Ours runs the production path (``forecast_panel`` on a
``DemandPanel``: classify, backtest candidates, choose, recalibrate, simulate); its point forecast is
``mean`` and its 95% quantile ``q95``. statsforecast models give the point forecast and, where they
have intervals, ``hi-90`` as the 95% quantile; a model that fails (or returns NaN) on a series falls
back to SeasonalNaive(52) there (Naive when the history is under a season), and the fallbacks are
counted.

Metrics, averaged over series x cutoffs: MASE (mean absolute error / in-sample MAE of the lag-52
seasonal naive on the training span; one-step naive if that is 0 or undefined; then the training
mean, then 1), scaled pinball loss at 0.95 (same scale), q95 coverage (share of actuals <= q95),
and seconds per series per cutoff. Timings are of a shared machine: compare them within one run. The
script sets ``OMP_NUM_THREADS=1`` unless it is already set (single-threaded, like statsforecast's
n_jobs=1); ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/accuracy.py`` times the threaded engine.

Flags: ``--quick`` uses the first 30 demo series; ``--tiny`` (for the test) 5 demo series, the
latest cutoff only, no real data; ``--arima`` adds AutoARIMA(52), off by default because it is slow
at season 52 (about 7 s per series per cutoff on the real data, against under 0.4 s for the rest).
"""

from __future__ import annotations

import os

# One OpenMP thread unless the caller says otherwise: scikit-learn's gradient boosting (in our engine)
# runs up to 50x slower with OpenMP threads on a machine whose cores are busy, and statsforecast runs
# with n_jobs=1. Set before anything imports scikit-learn.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scoring import FallbackCounter, Forecasts, scale_of  # noqa: E402

from turnover.demo.synthetic import generate_pharmacy  # noqa: E402
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel  # noqa: E402
from turnover.panel import DemandPanel  # noqa: E402
from turnover.settings import load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL_CSV = REPO.parent / "shared" / "datasets" / "pharma_sales" / "salesdaily.csv"
REAL_COLUMNS = ["M01AB", "M01AE", "N02BA", "N02BE", "N05B", "N05C", "R03", "R06"]
DEMO_END = date(2026, 11, 22)  # a Sunday
HORIZON, SEASON, N_ORIGINS, TAU, LEVEL = 13, 52, 4, 0.95, 90
OURS = "ours (turnover)"
CHECK_SERIES = ("R03", "R06", "N02BE")


@dataclass
class Dataset:
    """Weekly series on one calendar of Mondays; NaN before a series' first week."""

    name: str
    keys: pd.DataFrame  # location_id, drug_id
    weeks: pd.DatetimeIndex
    values: np.ndarray  # (n_weeks, n_series)

    def history(self, j: int, end: int) -> np.ndarray:
        y = self.values[:end, j]
        return y[~np.isnan(y)]


# --- data -----------------------------------------------------------------------------------------


def monday(ts: pd.Series) -> pd.Series:
    """Monday of each timestamp's ISO week (midnight)."""
    day = ts.dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def load_real(path: Path) -> Dataset | None:
    """The pharmacy's daily sales summed into complete ISO weeks (None when the file is absent)."""
    if not path.exists():
        print(f"real data: {path} not found; skipping it")
        return None
    daily = pd.read_csv(path, usecols=["datum", *REAL_COLUMNS])
    daily["week"] = monday(pd.to_datetime(daily["datum"], format="%m/%d/%Y"))
    weekly = daily.groupby("week")[REAL_COLUMNS].sum()
    days = daily.groupby("week").size()
    complete = days.to_numpy() == 7
    first = 0 if complete[0] else 1
    last = len(weekly) if complete[-1] else len(weekly) - 1
    weekly = weekly.iloc[first:last]
    keys = pd.DataFrame({"location_id": "PHARMACY-1", "drug_id": REAL_COLUMNS})
    return Dataset("real: pharma_sales (weekly)", keys, pd.DatetimeIndex(weekly.index), weekly.to_numpy(dtype=float))


def load_demo(n_series: int | None) -> Dataset:
    """Weekly net demand per location x drug of the demo pharmacy, zero-filled from the first week."""
    d = generate_pharmacy(DEMO_END).dispensing
    d = d[d["dispensed_at"] < pd.Timestamp(DEMO_END + timedelta(days=1))]
    d = d.assign(week=monday(d["dispensed_at"]))
    net = d.groupby(["location_id", "drug_id", "week"])["quantity"].sum().clip(lower=0)
    wide = net.unstack(["location_id", "drug_id"]).sort_index(axis=1)
    weeks = pd.date_range(wide.index.min(), pd.Timestamp(DEMO_END - timedelta(days=6)), freq="W-MON")
    wide = wide.reindex(weeks)
    started = wide.notna().cummax()
    wide = wide.fillna(0).where(started)
    if n_series is not None:
        wide = wide.iloc[:, :n_series]
    keys = pd.DataFrame(list(wide.columns), columns=["location_id", "drug_id"])
    label = f"demo: generate_pharmacy {DEMO_END} (weekly net demand)"
    return Dataset(label, keys, weeks, wide.to_numpy(dtype=float))


def origins(n_weeks: int, n_origins: int) -> list[int]:
    """Cutoffs (training lengths on the calendar) 13 weeks apart, the latest leaving 13 to score."""
    return [n_weeks - HORIZON * k for k in range(n_origins, 0, -1)]


def scored_pairs(data: Dataset, cuts: list[int]) -> dict[int, list[int]]:
    """Per cutoff, the series with at least one training week (a series not yet started is skipped)."""
    return {c: [j for j in range(data.values.shape[1]) if len(data.history(j, c))] for c in cuts}


# --- our engine -----------------------------------------------------------------------------------


def run_ours(data: Dataset, pairs: dict[int, list[int]], models: Counter) -> Forecasts:
    """``forecast_panel`` at each cutoff on the truncated histories; the chosen models go into ``models``."""
    settings = load_settings(REPO / "turnover.toml")
    out = Forecasts(has_quantile=True)
    counter = FallbackCounter()
    log = logging.getLogger("turnover")
    log.addHandler(counter)
    log.propagate = False
    try:
        for c, series in pairs.items():
            histories = [data.history(j, c) for j in series]
            panel = DemandPanel(
                keys=data.keys.iloc[series].reset_index(drop=True),
                offsets=np.concatenate([[0], np.cumsum([len(h) for h in histories])]).astype(np.int64),
                units=np.concatenate(histories),
            )
            as_of = (data.weeks[c - 1] + pd.Timedelta(days=6)).date()
            window = ProtectionWindow(lead_time_days=np.full(len(series), 2), review_period_days=7, service_level=TAU)
            start = time.perf_counter()
            result = forecast_panel(panel, window, as_of, settings.forecast)
            out.seconds += time.perf_counter() - start
            out.series_fitted += len(series)
            fc = result.forecast.sort_values(["location_id", "drug_id", "period_start"])
            for (location_id, drug_id), g in fc.groupby(["location_id", "drug_id"], sort=False):
                j = _series_index(data, location_id, drug_id)
                assert pd.Timestamp(g["period_start"].iloc[0]) == data.weeks[c], "first forecast week != cutoff week"
                out.point[j, c] = np.clip(g["mean"].to_numpy(float)[:HORIZON], 0, None)
                out.q95[j, c] = np.clip(g["q95"].to_numpy(float)[:HORIZON], 0, None)
                models[g["model"].iloc[0]] += 1
    finally:
        log.removeHandler(counter)
        log.propagate = True
    out.fallbacks = counter.count
    return out


def _series_index(data: Dataset, location_id: str, drug_id: str) -> int:
    hit = np.flatnonzero((data.keys["location_id"] == location_id).to_numpy() & (data.keys["drug_id"] == drug_id).to_numpy())
    return int(hit[0])


# --- statsforecast --------------------------------------------------------------------------------


def statsforecast_models(with_arima: bool) -> list[tuple[str, object, bool]] | None:
    """(name, factory, has intervals) of the statsforecast models, or None if it is not installed."""
    try:
        from statsforecast.models import MSTL, TSB, AutoARIMA, AutoETS, CrostonOptimized, SeasonalNaive
    except ImportError:
        return None
    models = [
        ("AutoETS", lambda: AutoETS(season_length=SEASON), True),
        ("MSTL", lambda: MSTL(season_length=SEASON), True),
        ("AutoARIMA", lambda: AutoARIMA(season_length=SEASON), True),
        ("SeasonalNaive", lambda: SeasonalNaive(season_length=SEASON), True),
        ("CrostonOptimized", lambda: CrostonOptimized(), False),
        ("TSB", lambda: TSB(alpha_d=0.1, alpha_p=0.1), False),
    ]
    return [m for m in models if with_arima or m[0] != "AutoARIMA"]


def long_frame(data: Dataset, c: int, series: list[int]) -> pd.DataFrame:
    """statsforecast's long layout (unique_id, ds, y) of the histories before cutoff ``c``."""
    frames = []
    for j in series:
        y = data.history(j, c)
        frames.append(pd.DataFrame({"unique_id": str(j), "ds": data.weeks[c - len(y) : c], "y": y}))
    return pd.concat(frames, ignore_index=True)


def sf_forecast(model, df: pd.DataFrame, with_level: bool) -> pd.DataFrame:
    """One model's forecasts (wide per ``unique_id`` x ``ds``) with statsforecast's own API."""
    from statsforecast import StatsForecast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return StatsForecast(models=[model], freq="W-MON", n_jobs=1).forecast(
            df=df, h=HORIZON, level=[LEVEL] if with_level else None
        )


def sf_arrays(fc: pd.DataFrame, name: str, with_level: bool) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Per unique_id: (point, hi-90) arrays over the horizon (NaN-bearing ones included)."""
    fc = fc.sort_values(["unique_id", "ds"])
    out = {}
    for uid, g in fc.groupby("unique_id", sort=False):
        point = g[name].to_numpy(float)
        hi = g[f"{name}-hi-{LEVEL}"].to_numpy(float) if with_level else None
        out[str(uid)] = (point, hi)
    return out


def run_one_model(name: str, factory, with_level: bool, df: pd.DataFrame) -> tuple[dict, float]:
    """The model on the whole panel in one call; if that raises, per series (a failing series is left out)."""
    start = time.perf_counter()
    try:
        arrays = sf_arrays(sf_forecast(factory(), df, with_level), name, with_level)
    except Exception:  # any failure on the panel: retry per series, the failing ones fall back
        arrays = {}
        for _, g in df.groupby("unique_id", sort=False):
            try:
                arrays.update(sf_arrays(sf_forecast(factory(), g, with_level), name, with_level))
            except Exception:  # this series falls back (counted by the caller)
                pass
    return arrays, time.perf_counter() - start


def fallback_arrays(df: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """SeasonalNaive(52), or Naive where the history is under a season (its forecast is NaN)."""
    from statsforecast.models import Naive, SeasonalNaive

    fc = sf_forecast(SeasonalNaive(season_length=SEASON), df, True)
    assert (fc["ds"].min() == df["ds"].max() + pd.Timedelta(weeks=1)), "first forecast week != cutoff week"
    seasonal = sf_arrays(fc, "SeasonalNaive", True)
    naive = sf_arrays(sf_forecast(Naive(), df, True), "Naive", True)
    return {uid: (seasonal[uid] if np.isfinite(seasonal[uid][0]).all() else naive[uid]) for uid in naive}


def run_statsforecast(data: Dataset, pairs: dict[int, list[int]], models: list) -> dict[str, Forecasts]:
    """Every statsforecast model at every cutoff, timed per model, with per-series fallbacks."""
    results = {name: Forecasts(has_quantile=with_level) for name, _, with_level in models}
    for c, series in pairs.items():
        df = long_frame(data, c, series)
        fallback = fallback_arrays(df)
        assert len(fallback) == len(series), "statsforecast dropped series"
        for name, factory, with_level in models:
            arrays, seconds = run_one_model(name, factory, with_level, df)
            res = results[name]
            res.seconds += seconds
            res.series_fitted += len(series)
            for j in series:
                point, hi = arrays.get(str(j), (None, None))
                ok = point is not None and len(point) == HORIZON and np.isfinite(point).all()
                ok = ok and (not with_level or np.isfinite(hi).all())
                if not ok:
                    point, hi = fallback[str(j)]
                    res.fallbacks += 1
                res.point[j, c] = np.clip(point, 0, None)
                if with_level:
                    res.q95[j, c] = np.clip(hi, 0, None)
    return results


# --- metrics --------------------------------------------------------------------------------------


def score_rows(data: Dataset, pairs: dict[int, list[int]], methods: dict[str, Forecasts]) -> pd.DataFrame:
    """One row per method x series x cutoff: MASE, scaled pinball at 0.95, q95 coverage."""
    rows = []
    for c, series in pairs.items():
        for j in series:
            actual = data.values[c : c + HORIZON, j]
            scale = scale_of(data.history(j, c), SEASON)
            for name, fc in methods.items():
                mase = float(np.mean(np.abs(actual - fc.point[j, c]))) / scale
                pin = cov = np.nan
                if fc.has_quantile:
                    diff = actual - fc.q95[j, c]
                    pin = float(np.mean(np.maximum(TAU * diff, (TAU - 1) * diff))) / scale
                    cov = float(np.mean(actual <= fc.q95[j, c]))
                rows.append((name, data.keys["drug_id"].iloc[j], c, mase, pin, cov))
    return pd.DataFrame(rows, columns=["method", "series", "cutoff", "mase", "pinball", "coverage"])


# --- report ---------------------------------------------------------------------------------------


def fmt(x: float, spec: str = ".3f") -> str:
    return "-" if not np.isfinite(x) else format(x, spec)


def print_table(scores: pd.DataFrame, methods: dict[str, Forecasts]) -> None:
    summary = scores.groupby("method", sort=False)[["mase", "pinball", "coverage"]].mean()
    print(f"{'method':<18} {'MASE':>7} {'scaled pinball 0.95':>20} {'q95 coverage':>13} {'s/series':>9} {'fallbacks':>10}")
    for name, fc in methods.items():
        m = summary.loc[name]
        per = fc.seconds / max(fc.series_fitted, 1)
        print(f"{name:<18} {fmt(m.mase):>7} {fmt(m.pinball):>20} {fmt(m.coverage, '.1%'):>13} {per:>9.3f} {fc.fallbacks:>10}")
    sf = summary.drop(index=OURS)
    if len(sf):
        best = sf["mase"].idxmin()
        ratio = summary.loc[OURS, "mase"] / sf.loc[best, "mase"]
        print(f"ours / best statsforecast MASE = {ratio:.2f}  (best: {best} {sf.loc[best, 'mase']:.3f})")


def print_per_series(scores: pd.DataFrame) -> None:
    """Per-series MASE (mean over cutoffs), methods as columns, and the check against SeasonalNaive."""
    wide = scores.pivot_table(index="series", columns="method", values="mase", sort=False)
    wide = wide[[m for m in scores["method"].unique()]].rename(columns={OURS: "ours"})
    print("\nper-series MASE (mean over cutoffs):")
    print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
    if "SeasonalNaive" in wide:
        checks = [f"{s} {'yes' if wide.loc[s, 'ours'] <= wide.loc[s, 'SeasonalNaive'] else 'NO'}"
                  f" ({wide.loc[s, 'ours']:.3f} vs {wide.loc[s, 'SeasonalNaive']:.3f})" for s in CHECK_SERIES if s in wide.index]
        print("ours MASE <= SeasonalNaive MASE: " + "; ".join(checks))


def evaluate(data: Dataset, n_origins: int, sf_models: list | None, per_series: bool) -> None:
    cuts = origins(len(data.weeks), n_origins)
    pairs = scored_pairs(data, cuts)
    n_pairs = sum(len(s) for s in pairs.values())
    skipped = len(cuts) * data.values.shape[1] - n_pairs
    print(f"\n=== {data.name}: {data.values.shape[1]} series, {len(data.weeks)} weeks "
          f"{data.weeks[0].date()}..{data.weeks[-1].date()}")
    print(f"cutoffs (first test week): {', '.join(str(data.weeks[c].date()) for c in cuts)}; "
          f"{n_pairs} series x cutoff scored" + (f" ({skipped} skipped: no history yet)" if skipped else ""))
    chosen: Counter = Counter()
    methods = {OURS: run_ours(data, pairs, chosen)}
    if sf_models:
        methods.update(run_statsforecast(data, pairs, sf_models))
    scores = score_rows(data, pairs, methods)
    print_table(scores, methods)
    print("ours, model chosen (series x cutoff): " + ", ".join(f"{m} {n}" for m, n in chosen.most_common()))
    if per_series:
        print_per_series(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the first 30 demo series")
    parser.add_argument("--tiny", action="store_true", help="5 demo series, latest cutoff only, no real data (tests)")
    parser.add_argument("--arima", action="store_true", help="also run AutoARIMA(52) (slow)")
    args = parser.parse_args()
    start = time.perf_counter()
    sf_models = statsforecast_models(args.arima)
    if sf_models is None:
        print("statsforecast is not installed (pip install -e '.[bench]'): scoring our engine only")
    elif not args.arima:
        print("AutoARIMA(52) skipped: about 7 s per series per cutoff at season 52; pass --arima to include it")
    if sf_models:
        print("note: statsforecast's AutoETS fits no seasonal component for season_length > 24 (non-seasonal ETS)")
    print(f"threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {os.cpu_count()} CPUs; statsforecast n_jobs=1")
    n_origins = 1 if args.tiny else N_ORIGINS
    if not args.tiny:
        real = load_real(REAL_CSV)
        if real is not None:
            evaluate(real, n_origins, sf_models, per_series=True)
    demo = load_demo(5 if args.tiny else 30 if args.quick else None)
    evaluate(demo, n_origins, sf_models, per_series=False)
    print(f"\nwall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
