"""The steady-state benchmark (issue 17) runs a few weeks at a tenth of chain scale, with a run killed on purpose,
so that it cannot rot unnoticed: its per-run CSV, summary, chart and the recovery comparison."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.extended
def test_steady_benchmark_runs_weeks_in_a_row_kills_one_and_the_next_publishes_what_an_uninterrupted_one_does(
        tmp_path):
    out = tmp_path / "results"
    command = [sys.executable, str(REPO / "benchmarks" / "steady.py"), "--scale", "0.1", "--weeks", "3",
               "--kill-week", "2", "--workdir", str(tmp_path), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in ("machine:", "chain: 20 locations x 300 drugs", "run  2 as of 2025-11-30: killed at 'forecast'",
                 "recovery: run 3 after the killed run 2", "end to end, refit runs", "warehouse MiB after run 0",
                 "weekly run", "peak RSS", "size growth", "ingest / bare (weekly)", "recovery after a kill"):
        assert line in done.stdout, line
    recovery = next(line for line in done.stdout.splitlines() if line.startswith("recovery after a kill"))
    assert recovery.endswith("PASS"), recovery
    with open(out / "steady_runs.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["run"] for r in rows] == ["0", "1", "3"]  # run 2 was killed
    assert [r["kind"] for r in rows] == ["full", "refit", "refit"]
    assert all(int(r["series"]) == 6000 and float(r["warehouse_mib"]) > 0 and float(r["peak_rss_mib"]) > 0
               for r in rows)
    assert int(rows[-1]["rows raw.dispensing"]) > int(rows[0]["rows raw.dispensing"])
    assert (out / "steady.png").stat().st_size > 0 and (out / "steady_summary.csv").is_file()
