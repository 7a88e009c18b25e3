"""The weekly run at chain scale (issue 7: 60,000 series through the weekly run in 5 minutes on 2 cores).

    .venv/bin/python benchmarks/scale.py [--scale 1.0] [--workdir DIR] [--curve] [--json PATH]

``--scale`` scales the number of drugs: 1.0 is 20 locations x 3,000 drugs = 60,000 series over 3 years
(about 15 million dispensing rows), 0.1 is 6,000 series. The chain (``turnover.demo.chain``) is generated
once per set of parameters into ``--workdir`` (default /tmp/turnover-scale) and reused from there.

In a fresh temporary warehouse, the weekly run's steps in the flow's order (flows/weekly.py), through
``turnover.pipeline``: ingest of the CSV exports (side by side with a bare DuckDB ``read_csv`` of the same
files, and the Parquet copies into a second warehouse beside a bare ``read_parquet``), reference files
and the flu signal, build demand (``start_run`` + ``build_demand``), score forecasts, forecast, par
levels, export, record run. Then statsforecast's MSTL(52) alone on the same weekly panel (optional:
``pip install -e '.[bench]'``), and an incremental run: the next week's files loaded and the steps again
as of ``end + 7``. With ``--curve`` (the default at scale 1.0) the same at a tenth of the scale first, and
each step's growth. End to end = ingest through record run (no generation, bare reads or MSTL).

Peak RSS per step is the process's high-water mark during the step (``VmHWM``, reset before each step
through ``/proc/self/clear_refs``); the peak RSS of the run is the largest of them, which is what
``ru_maxrss`` would say without the resets. Children (the generator, MSTL's workers) are apart. The
machine is shared and noisy: compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from turnover import __version__, calendar, pipeline
from turnover.demo.chain import ChainSpec
from turnover.demo.chain_files import ChainFiles, FileSet, file_bytes, read_chain, write_chain
from turnover.io.demand import read_demand_panel
from turnover.io.warehouse import open_warehouse
from turnover.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
FULL_DRUGS = 3000
TARGETS = {"full run": 300.0, "peak RSS": 3 * 1024.0, "ingest / bare": 1.5, "incremental run": 60.0}


# --- measuring ------------------------------------------------------------------------------------


def threaded_map(work, batches: list, step: str = "") -> list:
    """The batches on a thread per core, in batch order: what the flow's default task runner
    (``ThreadPoolTaskRunner``, ``[execution] threads = 0``) does, without Prefect."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(work, batches))


def _status_kib(field_name: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field_name}:\s+(\d+)", text).group(1))


class Peak:
    """The process's RSS high-water mark, per step and over the whole run."""

    def __init__(self) -> None:
        self.overall_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def reset(self) -> None:
        self.read()
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:  # not Linux, or not allowed: per-step peaks are then the peak so far
            pass

    def read(self) -> float:
        try:
            mib = _status_kib("VmHWM") / 1024
        except (OSError, AttributeError):
            mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.overall_mib = max(self.overall_mib, mib)
        return mib


@dataclass
class Step:
    name: str
    seconds: float
    throughput: str = ""
    notes: str = ""
    in_run: bool = True  # counted in the end-to-end time
    rss_mib: float = 0.0


@dataclass
class Run:
    title: str
    as_of: str
    steps: list[Step] = field(default_factory=list)
    on_step: Callable[[str], None] | None = None  # told each step's name as it starts (benchmarks/steady.py)

    def step(self, peak: Peak, name: str, fn: Callable, count: int | Callable | None = None, unit: str = "",
             notes: str = "", in_run: bool = True):
        """Run ``fn`` as a step; ``count`` (or ``count(result)``) units make its throughput."""
        if self.on_step:
            self.on_step(name)
        peak.reset()
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        n = count(result) if callable(count) else count
        rate = f"{n / seconds:,.0f} {unit}/s" if n else ""
        self.steps.append(Step(name, seconds, rate, notes, in_run, peak.read()))
        return result

    def seconds(self, name: str) -> float:
        return next((s.seconds for s in self.steps if s.name == name), float("nan"))

    def end_to_end(self) -> float:
        return sum(s.seconds for s in self.steps if s.in_run)

    def print(self) -> None:
        print(f"\n{self.title}")
        print(f"{'step':<34} {'seconds':>9}  {'throughput':<22} {'peak RSS':>9}  notes")
        for s in self.steps:
            mark = "" if s.in_run else "  "
            print(f"{mark + s.name:<34} {s.seconds:>9.2f}  {s.throughput:<22} {s.rss_mib:>5,.0f} MiB  {s.notes}")
        print(f"{'end to end (ingest .. record run)':<34} {self.end_to_end():>9.2f}")


# --- the chain ------------------------------------------------------------------------------------


def _generate(spec: ChainSpec, directory: Path) -> tuple[ChainFiles, float]:
    """In a child process: write the chain; returns its files and the child's peak RSS (MiB)."""
    files = write_chain(spec, directory)
    return files, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def chain_for(spec: ChainSpec, workdir: Path) -> tuple[ChainFiles, dict]:
    """The chain of ``spec`` from the cache in ``workdir``, generated there (in a child process) if absent."""
    directory = workdir / f"chain_{spec.locations}x{spec.drugs}_{spec.years:g}y_{spec.end}_seed{spec.seed}"
    files = read_chain(directory, spec)
    figures = {"directory": str(directory), "cached": files is not None, "peak_rss_mib": None}
    if files is None:
        print(f"generating {spec.locations} x {spec.drugs} x {spec.years:g} years into {directory} ...", flush=True)
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as child:
            files, figures["peak_rss_mib"] = child.submit(_generate, spec, directory).result()
    figures |= {"seconds": files.generated_seconds, "rows_history": files.history.rows, "rows_week": files.week.rows,
                "csv_bytes": file_bytes([*files.history.csv, *files.week.csv]),
                "parquet_bytes": file_bytes([*files.history.parquet, *files.week.parquet])}
    return files, figures


# --- the runs -------------------------------------------------------------------------------------


def bare_read(paths: tuple[Path, ...], database: Path, reader: str) -> None:
    """``create table .. as select * from read_csv/read_parquet(file)`` per file, in a DuckDB file of its own."""
    con = duckdb.connect(str(database))
    try:
        for i, p in enumerate(paths):
            con.execute(f"create table t{i} as select * from {reader}(?)", [str(p)])
    finally:
        con.close()
    database.unlink()


def warm(paths) -> None:
    """Read ``paths`` once so that every reader finds them in the page cache, whichever reads first."""
    for p in paths:
        with open(p, "rb") as handle:
            while handle.read(1 << 24):
                pass


def weekly_run(run: Run, peak: Peak, settings, chain: ChainFiles, files: FileSet, run_id: str, root: Path,
               extra_csv: tuple[Path, ...] = (), map_batches=threaded_map) -> int:
    """The flow's steps on one file set (and ``extra_csv``: files given again, e.g. a killed run's, not in the bare
    read), the forecast's batches on ``map_batches`` (default: a thread per core, as the flow's default task
    runner); returns the series count."""
    rows = files.rows
    warm([*files.csv, *files.parquet])
    run.step(peak, "bare DuckDB read_csv", lambda: bare_read(files.csv, root / "bare.duckdb", "read_csv"), rows, "rows",
             "same files, not in the run", in_run=False)
    loads = run.step(peak, "ingest CSV (ours)", lambda: pipeline.load_history(settings, [*extra_csv, *files.csv]), rows,
                     "rows", f"{len(files.csv)} files, {file_bytes(files.csv) / 2**20:,.1f} MiB")
    rejected = sum(r.rows_rejected for r in loads)
    if rejected:
        run.steps[-1].notes += f", {rejected} REJECTED"
    reference = chain.reference(files)
    counts = run.step(peak, "load reference + signal", lambda: pipeline.load_reference(settings, **reference)
                      | pipeline.load_signals(settings, {"ilinet": files.ilinet}))
    run.steps[-1].notes = ", ".join(f"{kind} {n:,}" for kind, n in counts.items())
    as_of = files.as_of

    def build() -> int:
        pipeline.start_run(settings, run_id, as_of)
        return pipeline.build_demand(settings, as_of)

    n_series = run.step(peak, "build demand", build, lambda n: n, "series")
    scored = run.step(peak, "score forecasts", lambda: pipeline.score_forecasts(settings, run_id, as_of))
    run.steps[-1].notes = f"{scored['periods']:,} periods of {len(scored['forecast_runs'])} earlier run(s) scored"
    run.step(peak, "forecast", lambda: pipeline.forecast(settings, run_id, as_of, map_batches), lambda n: n, "series")
    run.step(peak, "par levels", lambda: pipeline.set_par_levels(settings, run_id, as_of), n_series, "series")
    def export() -> list[Path]:  # as the flow's export task: the warehouse verified first
        pipeline.verify_warehouse(settings)
        return pipeline.export(settings, run_id, as_of)

    written = run.step(peak, "export", export, notes="warehouse verified, CSVs and report")
    run.steps[-1].notes += f" ({len(written)} files)"
    record = {"package_version": __version__, "parameters": {"benchmark": "scale", "as_of": as_of.isoformat()},
              "inputs": pipeline.input_records(loads, {**reference, "ilinet": files.ilinet}),
              **pipeline.row_accounting(loads)}
    step_seconds = {s.name: round(s.seconds, 3) for s in run.steps if s.in_run}
    run.step(peak, "record run", lambda: pipeline.record_run(settings, run_id, **record, step_seconds=step_seconds))
    run.step(peak, "retention", lambda: pipeline.apply_retention(settings, as_of))
    return n_series


def parquet_ingest(run: Run, peak: Peak, settings, files: FileSet, root: Path) -> None:
    """Our ingest of the Parquet copies into a warehouse of their own, beside a bare ``read_parquet``."""
    run.step(peak, "bare DuckDB read_parquet", lambda: bare_read(files.parquet, root / "bare.duckdb", "read_parquet"),
             files.rows, "rows", "not in the run", in_run=False)
    run.step(peak, "ingest Parquet (ours)", lambda: pipeline.load_history(settings, list(files.parquet)), files.rows,
             "rows", "separate warehouse, not in the run", in_run=False)


def mstl_alone(settings, as_of: date) -> dict:
    """statsforecast MSTL(52), fitted and forecast 13 weeks, on the weekly panel in the warehouse."""
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, Naive
    except ImportError:
        return {"skipped": "skipped: pip install -e '.[bench]'"}
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        panel = read_demand_panel(con)
    lengths = np.diff(panel.offsets)
    units = panel.units
    # Weeks labelled by their last day (Sunday), as freq W-SUN has them; fully censored weeks (NaN) as 0.
    last = np.datetime64(calendar.last_history_start(as_of, "week") + timedelta(days=6))
    from_end = np.repeat(panel.offsets[1:], lengths) - 1 - np.arange(len(units))
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(len(lengths)), lengths),
                          "ds": (last - from_end.astype("timedelta64[W]")).astype("datetime64[ns]"),
                          "y": np.nan_to_num(units, nan=0.0)})
    model = StatsForecast(models=[MSTL(season_length=52)], freq="W-SUN", n_jobs=2, fallback_model=Naive())
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecasts = model.forecast(df=frame, h=13)
    seconds = time.perf_counter() - start
    n = int((lengths > 0).sum())
    figures = {"series": n, "seconds": seconds, "series_per_second": n / seconds, "rows_forecast": len(forecasts)}
    return figures


def run_scale(scale: float, args, with_mstl: bool) -> dict:
    """Generate (or reuse) the chain at ``scale``, run the weekly run on it twice (full, then the week after),
    and MSTL alone; returns every figure."""
    spec = ChainSpec(locations=args.locations, drugs=max(1, round(FULL_DRUGS * scale)), years=args.years,
                     end=args.end, seed=args.seed)
    chain, generation = chain_for(spec, args.workdir)
    print(f"chain: {spec.locations} locations x {spec.drugs:,} drugs x {spec.years:g} years to {spec.end}: "
          f"{chain.history.rows:,} + {chain.week.rows:,} rows, CSV {generation['csv_bytes'] / 2**20:,.0f} MiB, "
          f"Parquet {generation['parquet_bytes'] / 2**20:,.0f} MiB; "
          + ("cached" if generation["cached"] else f"generated in {generation['seconds']:.1f} s, "
             f"peak RSS {generation['peak_rss_mib']:,.0f} MiB"), flush=True)
    peak = Peak()
    with tempfile.TemporaryDirectory(prefix="turnover-scale-run-", dir=args.workdir) as tmp:
        root = Path(tmp)
        settings = load_settings(REPO / "turnover.toml", warehouse_path=root / "w.duckdb", output_dir=root / "out")
        parquet_settings = load_settings(REPO / "turnover.toml", warehouse_path=root / "parquet.duckdb",
                                         output_dir=root / "out_parquet")
        full = Run(f"weekly run as of {spec.end} (scale {scale:g})", spec.end.isoformat())
        incremental = Run(f"incremental run as of {chain.week.as_of}: the next week's files, then the same steps",
                          chain.week.as_of.isoformat())
        with pipeline.exclusive_run(settings):
            n_series = weekly_run(full, peak, settings, chain, chain.history, "bench-full", root)
            parquet_ingest(full, peak, parquet_settings, chain.history, root)
            full.title += f": {n_series:,} series, {chain.history.rows:,} dispensing rows"
            print(f"full run done: {full.end_to_end():.1f} s end to end", flush=True)
            mstl = mstl_alone(settings, spec.end) if with_mstl else {"skipped": "skipped (--no-mstl)"}
            weekly_run(incremental, peak, settings, chain, chain.week, "bench-incremental", root)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak.read()
    return {"scale": scale, "spec": asdict(spec) | {"end": spec.end.isoformat()}, "series": n_series,
            "generation": generation, "runs": [_run_figures(full), _run_figures(incremental)], "mstl": mstl,
            "ingest_ratio_csv": full.seconds("ingest CSV (ours)") / full.seconds("bare DuckDB read_csv"),
            "ingest_ratio_parquet": full.seconds("ingest Parquet (ours)") / full.seconds("bare DuckDB read_parquet"),
            "peak_rss_mib": peak.overall_mib, "children_peak_rss_mib": children, "_runs": (full, incremental)}


def _run_figures(run: Run) -> dict:
    return {"title": run.title, "as_of": run.as_of, "end_to_end_seconds": run.end_to_end(),
            "steps": [asdict(s) for s in run.steps]}


# --- printing -------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").exists() else None
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    ram = re.search(r"MemTotal:\s+(\d+)", meminfo)
    return {"nproc": os.cpu_count(), "ram_gib": round(int(ram.group(1)) / 2**20, 1) if ram else None,
            "cpu": cpu.group(1).strip() if cpu else "unknown", "python": sys.version.split()[0],
            "duckdb": duckdb.__version__, "turnover": __version__}


def print_result(result: dict) -> None:
    full, incremental = result["_runs"]
    full.print()
    print(f"ingest / bare DuckDB read: CSV {result['ingest_ratio_csv']:.2f}x, Parquet {result['ingest_ratio_parquet']:.2f}x")
    mstl = result["mstl"]
    ours = result["series"] / full.seconds("forecast")
    if "skipped" in mstl:
        print(f"MSTL alone: {mstl['skipped']}")
    else:
        print(f"forecast: ours {ours:,.1f} series/s (classify, backtest, choose, simulate) vs statsforecast MSTL(52) "
              f"alone {mstl['series_per_second']:,.1f} series/s ({mstl['series']:,} series in {mstl['seconds']:.1f} s, "
              f"n_jobs=2, Naive fallback where MSTL cannot fit)")
    incremental.print()
    print(f"peak RSS: {result['peak_rss_mib']:,.0f} MiB (this process); children {result['children_peak_rss_mib']:,.0f} MiB "
          "(generator, MSTL workers)")


def print_curve(small: dict, large: dict) -> list[dict]:
    """Per step: seconds at the small and the large scale and their ratio (linear: the ratio of series)."""
    growth = large["series"] / small["series"]
    print(f"\ncost curve: {small['series']:,} -> {large['series']:,} series (x{growth:.1f}; linear = ratio ~{growth:.0f})")
    print(f"{'step':<34} {'small s':>9} {'large s':>9} {'ratio':>7}")
    rows = []
    for (title, small_run), (_, large_run) in zip((("full", small["_runs"][0]), ("incremental", small["_runs"][1])),
                                                  (("full", large["_runs"][0]), ("incremental", large["_runs"][1])),
                                                  strict=True):
        for s in small_run.steps:
            big = large_run.seconds(s.name)
            ratio = big / s.seconds if s.seconds > 0 else float("nan")
            rows.append({"run": title, "step": s.name, "seconds_small": s.seconds, "seconds_large": big, "ratio": ratio})
            print(f"{title[:4] + ' ' + s.name:<34} {s.seconds:>9.2f} {big:>9.2f} {ratio:>7.1f}")
        small_s, large_s = small_run.end_to_end(), large_run.end_to_end()
        rows.append({"run": title, "step": "end to end", "seconds_small": small_s, "seconds_large": large_s,
                     "ratio": large_s / small_s})
        print(f"{title[:4] + ' end to end':<34} {small_s:>9.2f} {large_s:>9.2f} {large_s / small_s:>7.1f}")
    return rows


def targets(result: dict) -> list[dict]:
    full, incremental = result["_runs"]
    measured = {"full run": full.end_to_end(), "peak RSS": result["peak_rss_mib"],
                "ingest / bare": result["ingest_ratio_csv"], "incremental run": incremental.end_to_end()}
    units = {"full run": "s", "peak RSS": "MiB", "ingest / bare": "x", "incremental run": "s"}
    out = []
    print(f"\nsummary at scale {result['scale']:g} ({result['series']:,} series; the targets are for scale 1)")
    for name, limit in TARGETS.items():
        ok = measured[name] <= limit
        out.append({"target": name, "limit": limit, "measured": measured[name], "unit": units[name], "pass": ok})
        print(f"{name:<16} {measured[name]:>9,.2f} {units[name]:<4} target <= {limit:,.1f} {units[name]:<4} "
              f"{'PASS' if ok else 'MISS'}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 3,000 drugs (1.0 = 60,000 series)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "turnover-scale",
                        help="where generated chains are cached and the run's warehouse lives")
    parser.add_argument("--curve", action=argparse.BooleanOptionalAction, default=None,
                        help="also run at a tenth of the scale first and print each step's growth (default at 1.0)")
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--years", type=float, default=3.0, help="years of history")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 15), help="last day of history")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-mstl", action="store_true", help="skip statsforecast's MSTL")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['ram_gib']} GiB RAM, {info['cpu']}; Python {info['python']}, "
          f"DuckDB {info['duckdb']}")
    curve = args.scale == 1.0 if args.curve is None else args.curve
    small = None
    if curve:
        small = run_scale(args.scale / 10, args, with_mstl=not args.no_mstl)
        print_result(small)
    result = run_scale(args.scale, args, with_mstl=not args.no_mstl)
    print_result(result)
    figures = {"machine": info, "result": result, "small": small}
    if small is not None:
        figures["curve"] = print_curve(small, result)
    figures["targets"] = targets(result)
    if args.json:
        for r in (result, small):
            if r is not None:
                r.pop("_runs")
        args.json.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
