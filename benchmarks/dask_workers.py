"""The per-series forecast passes in process vs on a local Dask cluster of 1 and 2 workers, side by side.

    .venv/bin/python benchmarks/dask_workers.py [--copies 2] [--batch-series 32]

Builds the demo warehouse in a temporary folder, reads its demand panel (141 series; ``--copies K``
repeats it K times under other location ids), then runs ``forecast_panel`` (classify, backtest,
choose, recalibrate, forecast) inside one Prefect flow with the batches on each task runner the
weekly flow can use. Prints seconds, series/s, the speed-up over in-process, and whether every
result frame is identical to the in-process one. Cluster start-up is timed separately.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402
from prefect import flow  # noqa: E402

from flows.execution import batches_on_task_runner  # noqa: E402
from turnover import pipeline  # noqa: E402
from turnover.demo.files import write_demo  # noqa: E402
from turnover.demo.synthetic import generate_pharmacy  # noqa: E402
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel  # noqa: E402
from turnover.io import demand as demand_io  # noqa: E402
from turnover.io.warehouse import open_warehouse  # noqa: E402
from turnover.panel import DemandPanel  # noqa: E402
from turnover.settings import ExecutionSettings, Settings, load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 22)
FRAMES = ("forecast", "protection", "calendar", "classes", "scores", "calibration")


def demo_panel(root: Path, copies: int) -> tuple[Settings, DemandPanel, pd.DataFrame, dict]:
    settings = load_settings(REPO / "turnover.toml", warehouse_path=root / "w.duckdb", output_dir=root / "out",
                             demo_dir=root / "demo")
    files = write_demo(generate_pharmacy(AS_OF), root / "demo")
    pipeline.load_history(settings, files.history)
    pipeline.load_reference(settings, catalog=files.catalog, on_hand=files.on_hand, shortages=files.shortages,
                            stockouts=files.stockouts, closures=files.closures)
    pipeline.load_signals(settings, {"ilinet": files.ilinet})
    pipeline.build_demand(settings, AS_OF)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        panel, series = demand_io.read_demand_panel(con), demand_io.read_series(con)
        signals = pipeline.signals_by_drug(con, settings)
    keys = pd.concat([panel.keys.assign(location_id=panel.keys["location_id"] + (f"-{k}" if k else ""))
                      for k in range(copies)], ignore_index=True)
    big = replace(panel.take(list(range(len(panel))) * copies), keys=keys)
    return settings, big, pd.concat([series] * copies, ignore_index=True), signals


@flow(name="benchmark-dask-workers")
def run_all(settings: Settings, panel: DemandPanel, series: pd.DataFrame, signals: dict, batch_series: int) -> list:
    window = ProtectionWindow(series["lead_time_days"].to_numpy(), settings.policy.review_period_days,
                              series["service_level"].to_numpy(dtype=float), settings.par_calendar_periods())
    rows, reference = [], None
    for label, execution in (("in process", ExecutionSettings()), ("dask, 1 worker", ExecutionSettings(dask_workers=1)),
                             ("dask, 2 workers", ExecutionSettings(dask_workers=2))):
        start = time.perf_counter()
        with batches_on_task_runner(execution) as map_batches:
            started = time.perf_counter()
            result = forecast_panel(panel, window, AS_OF, settings.forecast, signals, map_batches=map_batches,
                                    batch_series=batch_series)
            work_seconds = time.perf_counter() - started
        total_seconds = time.perf_counter() - start
        reference = reference or result
        same = all(getattr(result, f).equals(getattr(reference, f)) for f in FRAMES)
        rows.append((label, started - start, work_seconds, total_seconds, same))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="repeat the demo panel this many times (default 2)")
    parser.add_argument("--batch-series", type=int, default=32, help="series per batch task (default 32)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings, panel, series, signals = demo_panel(Path(tmp), args.copies)
        rows = run_all(settings, panel, series, signals, args.batch_series)
    n = len(panel)
    base = rows[0][2]
    print(f"\nforecast_panel on {n} series ({args.copies} x the demo), batches of {args.batch_series}, "
          f"{os.cpu_count()} cores")
    print(f"{'runner':<17}{'start s':>9}{'passes s':>10}{'series/s':>10}{'speed-up':>10}  identical")
    for label, start_s, work_s, _, same in rows:
        print(f"{label:<17}{start_s:>9.1f}{work_s:>10.1f}{n / work_s:>10.1f}{base / work_s:>9.2f}x  {same}")
    one, two = rows[1][2], rows[2][2]
    print(f"2 vs 1 Dask worker: {one / two:.2f}x")


if __name__ == "__main__":
    main()
