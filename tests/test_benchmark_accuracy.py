"""The accuracy benchmark runs end to end (tiny mode: 5 demo series, one cutoff, no real data)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_accuracy_benchmark_runs_in_tiny_mode():
    # statsforecast is optional (the `bench` extra): without it the script scores our engine only.
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "accuracy.py"), "--quick", "--tiny"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scaled pinball 0.95" in done.stdout and "q95 coverage" in done.stdout
    assert "ours (turnover)" in done.stdout
