"""Time each step of the weekly run on the demo pharmacy, side by side with a bare DuckDB read.

    .venv/bin/python benchmarks/spine.py [--scale-years 3.5]

Prints one table: step, seconds, throughput, and the ratio of our ingest to a bare
``CREATE TABLE AS SELECT * FROM read_csv(...)`` of the same files in the same run (the machine is
shared and noisy, so only same-run ratios mean much). Peak RSS is the whole process's.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from scale import bare_read  # benchmarks/scale.py (this folder is on the path when run as a script)

from turnover import pipeline
from turnover.demo.files import write_demo
from turnover.demo.synthetic import generate_pharmacy
from turnover.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def timed(label: str, rows: list, fn, unit_count: int | None = None, unit: str = ""):
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    rate = f"{unit_count / seconds:,.0f} {unit}/s" if unit_count else ""
    rows.append((label, seconds, rate))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-years", type=float, default=3.5, help="years of dispensing to generate")
    args = parser.parse_args()
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = load_settings(REPO / "turnover.toml", warehouse_path=root / "w.duckdb", output_dir=root / "out")
        pharmacy = timed("generate demo", rows, lambda: generate_pharmacy(date(2026, 11, 22), years=args.scale_years))
        files = write_demo(pharmacy, root / "demo")
        n_rows = len(pharmacy.dispensing)
        csvs = [p for p in files.history if p.suffix == ".csv"]
        csv_rows = sum(sum(1 for _ in open(p)) - 1 for p in csvs)

        timed("bare DuckDB read_csv (CSV files)", rows, lambda: bare_read(tuple(csvs), root / "bare.duckdb", "read_csv"),
              csv_rows, "rows")
        timed("ingest CSV files (ours)", rows, lambda: pipeline.load_history(settings, csvs), csv_rows, "rows")
        parquet = [p for p in files.history if p.suffix == ".parquet"]
        timed("ingest Parquet file (ours)", rows, lambda: pipeline.load_history(settings, parquet), n_rows - csv_rows, "rows")
        timed("reference files", rows, lambda: pipeline.load_reference(
            settings, catalog=files.catalog, on_hand=files.on_hand, stockouts=files.stockouts, closures=files.closures))
        as_of = date(2026, 11, 22)
        pipeline.start_run(settings, "bench", as_of)
        n_series = timed("demand series (SQL)", rows, lambda: pipeline.build_demand(settings, as_of))
        timed("forecast", rows, lambda: pipeline.forecast(settings, "bench", as_of), n_series, "series")
        timed("par levels", rows, lambda: pipeline.set_par_levels(settings, "bench", as_of), n_series, "series")
        timed("export CSVs", rows, lambda: pipeline.export(settings, "bench", as_of))

    print(f"\nweekly run on the demo: {n_rows:,} dispensing rows, {n_series} series\n")
    print(f"{'step':<36} {'seconds':>8}  throughput")
    for label, seconds, rate in rows:
        print(f"{label:<36} {seconds:>8.2f}  {rate}")
    bare_s = next(s for label, s, _ in rows if label.startswith("bare"))
    ours_s = next(s for label, s, _ in rows if label.startswith("ingest CSV"))
    print(f"\ningest / bare DuckDB read: {ours_s / bare_s:.2f}x")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
