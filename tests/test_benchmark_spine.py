"""The step-timing benchmark runs end to end on a short demo, so it cannot rot unnoticed (it had: a changed
step signature broke it and no test said so)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_spine_benchmark_runs_on_a_short_demo_and_prints_its_ratio():
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "spine.py"), "--scale-years", "1.2"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in ("ingest CSV files (ours)", "forecast", "par levels", "export CSVs", "ingest / bare DuckDB read:",
                 "peak RSS:"):
        assert line in done.stdout
