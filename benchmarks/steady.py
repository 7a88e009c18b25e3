"""A year of Mondays at chain scale (issue 17): the history, then 52 weekly incremental runs in a row.

    .venv/bin/python benchmarks/steady.py [--scale 1.0] [--weeks 52] [--kill-week 6] [--out DIR]
    make bench-steady                  # the same, SCALE=0.1 for a tenth

The chain generator (``turnover.demo.chain``, ``benchmarks/scale.py``'s chain: 20 locations x 3,000 drugs at scale 1)
writes 3 years of history through ``--end`` and then one folder of exports per week after it. Run 0 loads the
history and runs; each run after it loads only its week's exports (dispensing per location, stock count, flu
signal; the catalog, stockouts and closures again, as a pharmacy system re-sends them) and runs the weekly
run's steps in the flow's order (``scale.weekly_run``: ingest .. record run, with the warehouse verified before
the export, as the flow does). ``[forecast] reselect_every_days`` (28) makes every fourth run a full
reselection. Each run is a fresh process (a deployment's flow run is), so one run's memory is not the next's.

Per run: seconds by step, peak RSS by step (``VmHWM``, reset per step), the warehouse file's size and the rows
of every table after it, and a bare DuckDB ``read_csv`` of that week's files beside our ingest. Printed as the
runs go, then summarised (min / median / max per step, size at runs 1, 13, 26, 52) against the targets, and
saved as ``steady_runs.csv``, ``steady_summary.csv`` and ``steady.png`` in ``--out`` (``benchmarks/results/steady``).

Recovery (``--kill-week K``, 0 to skip): run K is killed (SIGKILL) once its ``--kill-step`` starts. The
next Monday's run is given run K's exports again with its own (a scheduled run reads its inbox: files loaded
before are skipped by their hash). Beside it, on copies of the warehouse as it was before run K: run K + 1
alone (run K never ran), and runs K and K + 1 uninterrupted. Run K + 1's purchasing files must be byte-identical
to the first (the kill left no trace), and equal the second's but for the reasons' "since last week" and the
series whose model run K chose by backtest for the first time (a new item's history grown long enough: the
uninterrupted sequence chose on the data of week K, the killed one on week K + 1's).
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import date
from multiprocessing import get_context
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]  # scale; flows

import pandas as pd  # noqa: E402
from scale import FULL_DRUGS, REPO, Peak, Run, chain_for, machine, weekly_run  # noqa: E402

from turnover import pipeline  # noqa: E402
from turnover.demo.chain import ChainSpec  # noqa: E402
from turnover.demo.chain_files import ChainFiles, FileSet  # noqa: E402
from turnover.io.warehouse import open_warehouse  # noqa: E402
from turnover.settings import load_settings  # noqa: E402

TARGETS = {"weekly run": 60.0, "weekly median": 45.0, "reselection run": 180.0, "peak RSS": 3 * 1024.0,
           "size growth": 2.0, "ingest / bare (weekly)": 1.5, "ingest / bare (history)": 1.5}
KILL_STEPS = ("ingest CSV (ours)", "build demand", "score forecasts", "forecast", "par levels", "export",
              "record run", "retention")


# --- one run, in a fresh process ------------------------------------------------------------------


def one_run(job: dict) -> None:
    """The weekly run of ``job`` (its files, as-of, warehouse and output folder); writes its figures to
    ``job["result"]`` as JSON. Each step's name is written to ``job["progress"]`` as it starts."""
    settings = load_settings(REPO / "turnover.toml", warehouse_path=Path(job["warehouse"]),
                             output_dir=Path(job["out"]))
    chain: ChainFiles = job["chain"]
    files: FileSet = job["files"]
    peak = Peak()
    run = Run(job["title"], files.as_of.isoformat(), on_step=Path(job["progress"]).write_text)
    started = time.perf_counter()
    with pipeline.exclusive_run(settings):
        if job.get("dask_workers"):
            n_series, startup = on_dask(run, peak, settings, job)
        else:
            n_series, startup = weekly_run(run, peak, settings, chain, files, job["run_id"], Path(job["scratch"]),
                                           extra_csv=job.get("extra_csv", ())), 0.0
    Path(job["result"]).write_text(json.dumps({
        "series": n_series, "steps": [asdict(s) for s in run.steps], "end_to_end_seconds": run.end_to_end(),
        "process_seconds": time.perf_counter() - started, "startup_seconds": startup,
        "peak_rss_mib": peak.overall_mib}), encoding="utf-8")


def on_dask(run: Run, peak: Peak, settings, job: dict) -> tuple[int, float]:
    """The same steps inside a Prefect flow whose forecast batches run on a local Dask cluster of
    ``job["dask_workers"]`` worker processes (``flows.execution.batches_on_task_runner``, the weekly flow's own
    task runner). Returns the series and the seconds to start Prefect and the cluster (not in the steps)."""
    from prefect import flow

    from flows.execution import batches_on_task_runner
    from turnover.settings import ExecutionSettings

    entered = time.perf_counter()

    @flow(name="steady-week-on-dask")
    def week() -> tuple[int, float]:
        with batches_on_task_runner(ExecutionSettings(dask_workers=job["dask_workers"])) as map_batches:
            startup = time.perf_counter() - entered
            return weekly_run(run, peak, settings, job["chain"], job["files"], job["run_id"], Path(job["scratch"]),
                              extra_csv=job.get("extra_csv", ()), map_batches=map_batches), startup

    return week()


def table_rows(con) -> dict[str, int]:
    """Rows of every table of the warehouse."""
    tables = con.execute("select schema_name, table_name from duckdb_tables() where not temporary order by 1, 2"
                         ).fetchall()
    return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}


def warehouse_bytes(warehouse: Path) -> int:
    """The warehouse file and its write-ahead log."""
    return sum(p.stat().st_size for p in (warehouse, warehouse.with_name(warehouse.name + ".wal")) if p.exists())


def launch(job: dict, kill_at: str | None = None, timeout_seconds: float = 3600) -> dict | None:
    """Run ``job`` in a fresh (spawned) process; with ``kill_at``, SIGKILL it once that step starts (after a
    moment into it) and return None."""
    Path(job["progress"]).unlink(missing_ok=True)
    Path(job["result"]).unlink(missing_ok=True)
    process = get_context("spawn").Process(target=one_run, args=(job,))
    process.start()
    deadline = time.monotonic() + timeout_seconds
    while process.is_alive():
        if kill_at is not None and Path(job["progress"]).is_file() and Path(job["progress"]).read_text() == kill_at:
            time.sleep(0.5)  # into the step, not before it
            os.kill(process.pid, signal.SIGKILL)
            process.join()
            return None
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"run {job['title']} took over {timeout_seconds:.0f} s")
        time.sleep(0.05)
    process.join()
    if process.exitcode != 0 or not Path(job["result"]).is_file():
        raise RuntimeError(f"run {job['title']} failed (exit code {process.exitcode})")
    return json.loads(Path(job["result"]).read_text(encoding="utf-8"))


# --- the year -------------------------------------------------------------------------------------


def job_for(root: Path, chain: ChainFiles, k: int, files: FileSet, *, warehouse: Path, out: Path,
            extra_csv: tuple = (), dask_workers: int = 0) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    return {"warehouse": str(warehouse), "out": str(out), "chain": chain, "files": files, "run_id": f"steady-{k:02d}",
            "title": f"run {k} as of {files.as_of}", "scratch": str(root), "progress": str(root / "progress"),
            "result": str(root / f"result_{k:02d}.json"), "extra_csv": extra_csv, "dask_workers": dask_workers}


def record(k: int, files: FileSet, result: dict, warehouse: Path, run_id: str) -> dict:
    """One row of ``steady_runs.csv``: the run's figures, the warehouse's size and the rows of its tables."""
    steps = {s["name"]: s for s in result["steps"]}
    with open_warehouse(warehouse, read_only=True) as con:
        kind, rows = run_kind(con, run_id), table_rows(con)
    row = {"run": k, "as_of": files.as_of.isoformat(), "kind": kind, "series": result["series"],
           "end_to_end_seconds": round(result["end_to_end_seconds"], 2),
           "process_seconds": round(result["process_seconds"], 2), "startup_seconds": round(result["startup_seconds"], 2),
           "peak_rss_mib": round(result["peak_rss_mib"]),
           "warehouse_mib": round(warehouse_bytes(warehouse) / 2**20, 1)}
    row |= {f"s_{name}": round(s["seconds"], 2) for name, s in steps.items()}
    row |= {f"rss_{name}": round(s["rss_mib"]) for name, s in steps.items() if s["in_run"]}
    row["ingest_ratio"] = round(steps["ingest CSV (ours)"]["seconds"] / steps["bare DuckDB read_csv"]["seconds"], 3)
    row |= {f"rows {t}": n for t, n in rows.items()}
    return row


def run_kind(con, run_id: str) -> str:
    """"full" when the run reselected every model, else "refit" (``marts.model_selection``)."""
    # a refit run selects afresh only new series and those chosen by rule: far from all of them
    full = con.execute("select avg((selected_run_id = run_id)::int) > 0.5 from marts.model_selection "
                       "where run_id = ?", [run_id]).fetchone()[0]
    return "full" if full else "refit"


def purchasing_files(out: Path, as_of: date) -> dict[str, Path]:
    """The CSVs a run publishes for its as-of (par levels, forecast, calendar, expiry, transfers ...)."""
    return {p.name: p for p in out.glob(f"*{as_of.isoformat()}*.csv")}


# A reason's first clause compares the par with the previous published run's, which a killed run never was.
PREVIOUS_RUN = re.compile(r"^Par (up from [\d,.]+ to [\d,.]+|down from [\d,.]+ to [\d,.]+|unchanged) "
                          r"since (last week|the previous run on \d{4}-\d{2}-\d{2})[;:]")
KEYS = ["location_id", "drug_id"]


def compare(ours_out: Path, theirs_out: Path, as_of: date) -> dict:
    """The purchasing files of ``as_of`` in two output folders: byte-identical, identical but for the reasons'
    first clause ("Par up from 105 to 113 since last week" against the previous published run), or different:
    with the columns and the series (location x drug) that differ."""
    ours, theirs = purchasing_files(ours_out, as_of), purchasing_files(theirs_out, as_of)
    same = sorted(n for n in ours if n in theirs and filecmp.cmp(ours[n], theirs[n], shallow=False))
    worded, differ, series = [], [], set()
    for name in sorted(set(ours) & set(theirs) - set(same)):
        a, b = (pd.read_csv(f, dtype=str, keep_default_na=False) for f in (ours[name], theirs[name]))
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            differ.append(f"{name} (shape)")
            continue
        for frame in (a, b):
            if "reason" in frame:
                frame["reason"] = frame["reason"].str.replace(PREVIOUS_RUN, "<par vs the previous run>", regex=True)
        columns = [c for c in a.columns if not a[c].equals(b[c])]
        if not columns:
            worded.append(name)
            continue
        differ.append(f"{name} ({', '.join(columns)})")
        if set(KEYS) <= set(a.columns):
            rows = (a[columns] != b[columns]).any(axis=1)
            series |= set(map(tuple, a.loc[rows, KEYS].to_numpy()))
    return {"files": len(theirs), "identical": same, "reason_wording": worded, "differ": differ, "series": series,
            "missing": sorted(set(theirs) - set(ours))}


def selected_afresh(warehouse: Path, run_id: str, before_id: str) -> set[tuple[str, str]]:
    """Series whose model run ``run_id`` chose by backtest while the run before (``before_id``) had it by rule (a
    history that grew long enough, a new series): the choices of a run that a killed run never made."""
    with open_warehouse(warehouse, read_only=True) as con:
        rows = con.execute("select n.location_id, n.drug_id from marts.model_selection n "
                           "left join marts.model_selection b on b.run_id = ? and b.location_id = n.location_id "
                           "and b.drug_id = n.drug_id where n.run_id = ? and n.by_backtest and not coalesce(b.by_backtest, "
                           "false)", [before_id, run_id]).fetchall()
    return set(map(tuple, rows))


def references(root: Path, chain: ChainFiles, k: int, sets: list[FileSet], warehouse: Path, dask_workers: int = 0,
               ) -> dict[str, Path]:
    """On copies of the warehouse as it is before run ``k``: runs ``k`` and ``k + 1`` uninterrupted, and run
    ``k + 1`` alone (with run ``k``'s exports, as the killed sequence's): their output folders."""
    outs = {}
    for name, runs in (("uninterrupted", (k, k + 1)), ("skipped", (k + 1,))):
        folder = root / name
        folder.mkdir()
        shutil.copy2(warehouse, folder / "w.duckdb")
        for j in runs:
            extra = sets[k].csv if (name, j) == ("skipped", k + 1) else ()
            launch(job_for(folder / "runs", chain, j, sets[j], warehouse=folder / "w.duckdb", out=folder / "out",
                           extra_csv=extra, dask_workers=dask_workers))
        outs[name] = folder / "out"
    return outs


def recovery_check(out: Path, outs: dict[str, Path], as_of: date, k: int) -> dict:
    """Run ``k + 1`` after the killed run ``k`` against (a) the sequence in which run ``k`` never ran: every file
    the same (the kill left no trace), and (b) the uninterrupted sequence: the same but for the series whose
    model run ``k`` chose by backtest for the first time (a choice the killed run never made)."""
    skipped = compare(out, outs["skipped"], as_of)
    uninterrupted = compare(out, outs["uninterrupted"], as_of)
    afresh = selected_afresh(outs["uninterrupted"].parent / "w.duckdb", f"steady-{k:02d}", f"steady-{k - 1:02d}")
    return {"killed_run": k, "skipped": skipped, "uninterrupted": uninterrupted, "afresh": afresh,
            "pass": not skipped["differ"] and not skipped["missing"] and not uninterrupted["missing"]
            and uninterrupted["series"] <= afresh}


def recovery_words(r: dict) -> str:
    s, u = r["skipped"], r["uninterrupted"]
    words = (f"run {r['killed_run'] + 1} after the killed run {r['killed_run']}: against the same sequence without run "
             f"{r['killed_run']}, {len(s['identical'])} of {s['files']} purchasing files byte-identical"
             + (f", differ: {'; '.join(s['differ'])}" if s["differ"] else "")
             + f"; against the uninterrupted sequence, {len(u['identical'])} byte-identical, {len(u['reason_wording'])} "
             "identical but for the reasons' 'Par .. since the previous run on <date>'")
    if u["differ"]:
        words += (f", {len(u['series'])} series differ in {', '.join(d.split(' (')[0] for d in u['differ'])}, "
                  f"{len(u['series'] & r['afresh'])} of them among the {len(r['afresh'])} series whose model run "
                  f"{r['killed_run']} chose by backtest for the first time")
    return words + (" PASS" if r["pass"] else " MISS")


def run_year(args) -> tuple[list[dict], dict]:
    spec = ChainSpec(locations=args.locations, drugs=max(1, round(FULL_DRUGS * args.scale)), years=args.years,
                     end=args.end, seed=args.seed, week_days=7 * args.weeks)
    chain, generation = chain_for(spec, args.workdir)
    print(f"chain: {spec.locations} locations x {spec.drugs:,} drugs, {spec.years:g} years to {spec.end} "
          f"({chain.history.rows:,} rows), then {len(chain.weeks)} weeks (about {chain.week.rows:,} rows a week); "
          + ("cached" if generation["cached"] else f"generated in {generation['seconds']:.1f} s"), flush=True)
    root = Path(tempfile.mkdtemp(prefix="turnover-steady-", dir=args.workdir))
    warehouse, out = root / "w.duckdb", root / "out"
    rows, recovery = [], {}
    sets = [chain.history, *chain.weeks]
    carry: tuple = ()  # exports of a killed run, given again to the next
    try:
        for k, files in enumerate(sets):
            job = job_for(root / "runs", chain, k, files, warehouse=warehouse, out=out, extra_csv=carry,
                          dask_workers=args.dask_workers)
            carry = ()
            if args.kill_week and k == args.kill_week and k + 1 < len(sets):
                recovery = {"outs": references(root, chain, k, sets, warehouse, args.dask_workers)}
                launch(job, kill_at=args.kill_step)
                print(f"run {k:>2} as of {files.as_of}: killed at '{args.kill_step}' on purpose", flush=True)
                carry = files.csv
                continue
            result = launch(job)
            row = record(k, files, result, warehouse, job["run_id"])
            rows.append(row)
            write_csv(args.out / "steady_runs.csv", rows)  # as the runs go: a long benchmark stopped early keeps them
            print(f"run {k:>2} as of {files.as_of} ({row['kind']:<6}) {row['end_to_end_seconds']:>7.1f} s  "
                  f"forecast {row.get('s_forecast', 0):>6.1f} s  score {row.get('s_score forecasts', 0):>5.1f} s  "
                  f"peak RSS {row['peak_rss_mib']:>6,} MiB  warehouse {row['warehouse_mib']:>8,.1f} MiB  "
                  f"ingest/bare {row['ingest_ratio']:.2f}x", flush=True)
            if recovery and k == args.kill_week + 1:
                recovery = recovery_check(out, recovery["outs"], files.as_of, args.kill_week)
                print(f"recovery: {recovery_words(recovery)}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return rows, recovery


# --- summary --------------------------------------------------------------------------------------


def summarise(rows: list[dict], recovery: dict) -> list[dict]:
    weekly = [r for r in rows if r["run"] > 0]
    steps = [k for k in rows[0] if k.startswith("s_")]
    print(f"\n{'step':<30} {'min s':>8} {'median s':>9} {'max s':>8}   (weekly runs 1..{weekly[-1]['run']})")
    for s in steps:
        values = [r[s] for r in weekly if s in r]
        print(f"{s[2:]:<30} {min(values):>8.2f} {statistics.median(values):>9.2f} {max(values):>8.2f}")
    for kind in ("refit", "full"):
        values = [r["end_to_end_seconds"] for r in weekly if r["kind"] == kind]
        if values:
            print(f"{'end to end, ' + kind + ' runs':<30} {min(values):>8.2f} {statistics.median(values):>9.2f} "
                  f"{max(values):>8.2f}   ({len(values)} runs)")
    by_run = {r["run"]: r for r in rows}
    sizes = {n: by_run[n]["warehouse_mib"] for n in (0, 1, 13, 26, 52) if n in by_run}
    print("warehouse MiB after run " + ", ".join(f"{n}: {v:,.1f}" for n, v in sizes.items()))
    refit = [r["end_to_end_seconds"] for r in weekly if r["kind"] == "refit"] or [float("nan")]
    full = [r["end_to_end_seconds"] for r in weekly if r["kind"] == "full"] or [0.0]
    last = weekly[-1]
    measured = {
        "weekly run": max(refit), "weekly median": statistics.median([r["end_to_end_seconds"] for r in weekly]),
        "reselection run": max(full), "peak RSS": max(r["peak_rss_mib"] for r in rows),
        "size growth": last["warehouse_mib"] / weekly[0]["warehouse_mib"],
        "ingest / bare (weekly)": statistics.median(r["ingest_ratio"] for r in weekly),
        "ingest / bare (history)": rows[0]["ingest_ratio"] if rows[0]["run"] == 0 else float("nan"),
    }
    units = {"peak RSS": "MiB", "size growth": "x", "ingest / bare (weekly)": "x", "ingest / bare (history)": "x"}
    print(f"\ntargets (for scale 1; size growth = after run {last['run']} / after run {weekly[0]['run']})")
    out = []
    for name, limit in TARGETS.items():
        ok = measured[name] <= limit
        unit = units.get(name, "s")
        out.append({"target": name, "limit": limit, "measured": round(measured[name], 3), "unit": unit, "pass": ok})
        print(f"{name:<26} {measured[name]:>9,.2f} {unit:<4} target <= {limit:,.1f} {unit:<4} {'PASS' if ok else 'MISS'}")
    if recovery:
        skipped = recovery["skipped"]
        out.append({"target": "recovery", "limit": 0, "measured": len(skipped["differ"]) + len(skipped["missing"]),
                    "unit": "files differing from the sequence without the killed run", "pass": recovery["pass"]})
        print(f"{'recovery after a kill':<26} {recovery_words(recovery)}")
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    """Rows of a ``steady_runs.csv``, numbers as numbers."""
    def value(text: str):
        try:
            return float(text) if any(c in text for c in ".en") else int(text)
        except ValueError:
            return text

    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: value(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def plot(path: Path, rows: list[dict]) -> None:
    """Time by step (stacked), peak RSS and warehouse size against the run number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r["run"] for r in rows]
    steps = [k for k in rows[0] if k.startswith("s_") and "bare" not in k]
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    bottom = [0.0] * len(rows)
    for s in steps:
        values = [r.get(s, 0.0) for r in rows]
        axes[0].bar(runs, values, bottom=bottom, label=s[2:], width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes[0].axhline(TARGETS["weekly run"], color="black", linestyle="--", linewidth=0.8)
    axes[0].set_ylabel("seconds")
    axes[0].legend(fontsize=7, ncol=3)
    axes[0].set_title("weekly runs at chain scale: time by step, peak RSS, warehouse size")
    axes[1].plot(runs, [r["peak_rss_mib"] for r in rows], marker="o")
    axes[1].axhline(TARGETS["peak RSS"], color="black", linestyle="--", linewidth=0.8)
    axes[1].set_ylabel("peak RSS (MiB)")
    axes[2].plot(runs, [r["warehouse_mib"] for r in rows], marker="o")
    axes[2].set_ylabel("warehouse (MiB)")
    axes[2].set_xlabel("run (0: the history; every fourth a full reselection)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 3,000 drugs (1.0 = 60,000 series)")
    parser.add_argument("--weeks", type=int, default=52, help="weekly runs after the history's")
    parser.add_argument("--kill-week", type=int, default=6, help="the run killed on purpose (0: none)")
    parser.add_argument("--kill-step", choices=KILL_STEPS, default="forecast")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "turnover-scale")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "steady", help="where the CSVs and PNG go")
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--years", type=float, default=3.0, help="years of history before the first run")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 11, 16),
                        help="last day of the history (the weeks after it must not be after today)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the warehouse and outputs")
    parser.add_argument("--dask-workers", type=int, default=0,
                        help="the forecast's batches on a local Dask cluster of this many workers, through Prefect's "
                        "Dask task runner as the weekly flow runs them (0: threads in the run's process)")
    parser.add_argument("--summarise", type=Path, help="only summarise (and chart) a steady_runs.csv written before, "
                        "e.g. by a benchmark stopped early")
    args = parser.parse_args()
    if args.summarise:
        rows = read_csv(args.summarise)
        summarise(rows, {})
        plot(args.summarise.with_name("steady.png"), rows)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['ram_gib']} GiB RAM, {info['cpu']}; Python {info['python']}, "
          f"DuckDB {info['duckdb']}")
    rows, recovery = run_year(args)
    summary = summarise(rows, recovery)
    write_csv(args.out / "steady_runs.csv", rows)
    write_csv(args.out / "steady_summary.csv", summary)
    plot(args.out / "steady.png", rows)
    print(f"wrote {args.out / 'steady_runs.csv'}, {args.out / 'steady_summary.csv'}, {args.out / 'steady.png'}")


if __name__ == "__main__":
    main()
