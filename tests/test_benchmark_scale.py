"""The chain-scale benchmark runs end to end on a tiny chain (12 series), so it cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.extended
def test_scale_benchmark_runs_on_a_tiny_chain_and_prints_its_tables_and_targets(tmp_path):
    figures = tmp_path / "scale.json"
    command = [sys.executable, str(REPO / "benchmarks" / "scale.py"), "--scale", "0.002", "--locations", "2",
               "--years", "1.2", "--workdir", str(tmp_path), "--no-mstl", "--json", str(figures)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in ("machine:", "weekly run as of 2026-11-15", "incremental run as of 2026-11-22", "ingest CSV (ours)",
                 "bare DuckDB read_csv", "ingest Parquet (ours)", "forecast", "par levels", "export",
                 "end to end (ingest .. record run)", "ingest / bare DuckDB read:", "peak RSS:", "full run",
                 "incremental run", "ingest / bare", "MSTL alone: skipped"):
        assert line in done.stdout, line
    assert done.stdout.count("PASS") + done.stdout.count("MISS") == 4
    result = json.loads(figures.read_text())["result"]
    assert result["series"] == 12
    assert [len(run["steps"]) for run in result["runs"]] == [12, 10]
    # Again with the cost curve: a tenth of the scale first, then the chain generated above, from the work folder.
    again = subprocess.run([*command, "--curve"], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "generating 2 x 1 x 1.2 years" in again.stdout and "cached" in again.stdout
    assert "cost curve: 2 -> 12 series" in again.stdout
