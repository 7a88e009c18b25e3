"""Faults in a real ``turnover run``: the process killed mid-forecast and mid-export (SIGKILL to its process
group), a second run while one holds the warehouse, and a disk that fills up during the export.

The killed runs are subprocesses of the ``turnover`` command (cwd a temporary folder, where the demo is
generated) against this session's Prefect test server, so each run skips the temporary server's start-up.
Mid-forecast is detected from the run's own progress lines; mid-export, which takes under a second, by the
``TURNOVER_TEST_PAUSE_AT=export`` hook (``turnover.io.files``: the first file of the set staged, nothing
published). Kills at every point of the publishing, without Prefect, are in ``tests/test_faults.py``.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows import cli
from tests.conftest import REPO
from turnover import pipeline, schema
from turnover.demo.synthetic import DRUGS
from turnover.io.warehouse import open_warehouse
from turnover.settings import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.extended]
CONFIG = str(REPO / "turnover.toml")
AS_OF = "2026-11-22"
TURNOVER = Path(sys.executable).with_name("turnover")  # the venv's console script
RUN_TIMEOUT_SECONDS = 120
# The killed runs forecast without the global model (about a third of a demo run's time), so that three runs
# fit in a minute; what is tested, the steps' writes and the kills, is the same.
LIGHTER_FORECAST = {"TURNOVER_FORECAST__CANDIDATES_SEASONAL": '["dynamic_harmonic", "seasonal_naive"]',
                    "TURNOVER_FORECAST__CANDIDATES_SMOOTH": '["dynamic_harmonic", "exp_smoothing", "seasonal_naive", '
                                                            '"moving_average"]'}


class Runs:
    """``turnover run --demo`` subprocesses in one folder, each in its own process group, with its output in
    a log file; any still alive at the end of a test is killed."""

    def __init__(self, root: Path, api_url: str) -> None:
        self.root, self.api_url, self.alive = root, api_url, []
        self.db, self.out = root / "w.duckdb", root / "out"

    def start(self, name: str, verbose: bool = True, **env: str) -> tuple[subprocess.Popen, Path]:
        """``verbose``: the log lines on the terminal too, where :meth:`kill_when` watches for them."""
        command = [str(TURNOVER)] if TURNOVER.exists() else [sys.executable, "-m", "flows.cli"]
        command += ["run", "--config", CONFIG, "--demo", "--db", str(self.db), "--out", str(self.out), "--as-of", AS_OF]
        command += ["--verbose"] if verbose else []
        log = self.root / f"{name}.log"
        environment = {**os.environ, "PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.root / "prefect"),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1", **LIGHTER_FORECAST, **env}
        with open(log, "wb") as handle:
            process = subprocess.Popen(command, cwd=self.root, env=environment, stdout=handle, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.alive.append(process)
        return process, log

    def complete(self, name: str) -> str:
        """Run to the end, as a user runs it (not verbose); what it printed, which is one screen."""
        process, log = self.start(name, verbose=False)
        assert process.wait(timeout=RUN_TIMEOUT_SECONDS) == 0, log.read_text()[-3000:]
        printed = log.read_text()
        assert_one_screen(printed)
        return printed

    def kill_when(self, process: subprocess.Popen, log: Path, marker: str) -> None:
        """SIGKILL the run's process group as soon as ``marker`` appears in its output."""
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while marker not in log.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(f"the run ended (exit {process.returncode}) before {marker!r}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {marker!r} after {RUN_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL

    def stop_all(self) -> None:
        for process in self.alive:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


#: The lines of the summary ``turnover run`` prints (README): nothing else reaches the terminal.
SCREEN_LINES = ("loaded  ", "rows    ", "warning ", "as of   ", "tracked ", "orders  ", "turns   ", "flags   ", "expiry  ",
                "moves   ", "service ", "time    ",
                "wrote   ", "        and one par-level file", "report  ", "prefect ", "log     ")


def assert_one_screen(printed: str) -> None:
    """``printed`` (stdout and stderr) is the run summary only: no Prefect log line, no warning, no traceback."""
    strays = [line for line in printed.splitlines() if line and not line.startswith(SCREEN_LINES)]
    assert not strays, "\n".join(strays[:20])
    assert "prefect Prefect server at" in printed and "log     " in printed


@pytest.fixture
def runs(prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL

    started = Runs(tmp_path, PREFECT_API_URL.value())
    yield started
    started.stop_all()


def csv_files(out: Path) -> dict[str, bytes]:
    """Every CSV purchasing opens, by name: not the run folders (``runs/``, named by a hash of the files, the
    report among them, which names its run and so differs between runs by design)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))
            if p.is_file() and p.relative_to(out).parts[0] != "runs"}


def run_statuses(db: Path) -> list[str]:
    """Each run's status as ``turnover runs`` shows it, oldest first."""
    runs = pipeline.list_runs(load_settings(CONFIG, warehouse_path=db))
    return runs.sort_values("started_at")["status"].tolist()


def assert_consistent(db: Path) -> dict[str, int]:
    """Every table reads; the loads add up; no run is completed without its par levels; returns row counts."""
    with open_warehouse(db) as con:
        tables = [f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() where not temporary").fetchall()]
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
        loaded, rejected = con.execute(f"select sum(rows_loaded), sum(rows_rejected) from {schema.LOADED_FILES}").fetchone()
        assert counts[schema.DISPENSING] == loaded and counts[schema.DISPENSING_REJECTS] == rejected
        # A step's tables are written in one transaction: a run has all of them or none.
        forecast_runs = {r[0] for r in con.execute(f"select distinct run_id from {schema.FORECAST}").fetchall()}
        protection_runs = {r[0] for r in con.execute(f"select distinct run_id from {schema.PROTECTION_DEMAND}").fetchall()}
        assert forecast_runs == protection_runs
        incomplete = con.execute(
            f"select count(*) from {schema.RUNS} r where status = 'completed' and not exists "
            f"(select 1 from {schema.PAR_LEVELS} p where p.run_id = r.run_id)").fetchone()[0]
        assert incomplete == 0
    return counts


def assert_complete_outputs(out: Path) -> None:
    names = {p.name for p in out.iterdir() if p.is_file()}
    stems = ("par_levels", "forecast", "par_calendar", "expiry_risk", "quarantine", "shortages")
    assert {f"{s}_{AS_OF}.csv" for s in stems} | {f"report_{AS_OF}.html"} <= names
    assert len(list((out / "by_location").glob(f"par_levels_{AS_OF}_*.csv"))) == 3
    assert not list(out.rglob("*.tmp"))
    assert (out / f"par_levels_{AS_OF}.csv").read_text(encoding="utf-8-sig").count("\n") == 1 + 3 * len(DRUGS)


def test_a_run_killed_mid_forecast_leaves_no_csv_and_the_next_run_completes(runs, capsys):
    process, log = runs.start("killed")
    runs.kill_when(process, log, "turnover.progress - ")  # the forecast's batches are under way
    assert not re.search(r"turnover.pipeline.demand_forecast - forecast \d+ series", log.read_text())  # killed before it was stored

    assert not list(runs.out.rglob(f"*{AS_OF}*")) and not list(runs.out.rglob("*.tmp"))
    after_kill = assert_consistent(runs.db)
    with open_warehouse(runs.db, read_only=True) as con:
        assert con.execute(f"select status from {schema.RUNS}").fetchall() == [("running",)]
        assert con.execute(f"select count(*) from {schema.PAR_LEVELS}").fetchone()[0] == 0
    assert cli.main(["runs", "--db", str(runs.db), "--config", CONFIG]) == 0
    assert "interrupted" in capsys.readouterr().out

    runs.complete("next")
    assert_complete_outputs(runs.out)
    after_next = assert_consistent(runs.db)
    assert after_next[schema.DISPENSING] == after_kill[schema.DISPENSING]  # the files were loaded once
    assert run_statuses(runs.db) == ["interrupted", "completed"]


def test_a_run_killed_mid_export_replaces_no_file_and_a_second_run_meanwhile_is_told_it_is_busy(runs):
    runs.complete("first")
    before = csv_files(runs.out)
    report = (runs.out / f"report_{AS_OF}.html").read_bytes()

    process, log = runs.start("killed", TURNOVER_TEST_PAUSE_AT="export")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while "paused at export" not in log.read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    # While it holds the warehouse, a second run is refused at once, in one line.
    second, second_log = runs.start("second", verbose=False)
    assert second.wait(timeout=60) == 1
    said = second_log.read_text().strip()
    assert said == (f"turnover: error: warehouse busy: {runs.db} is in use by another turnover run; "
                    "wait for it to finish, then run again")
    runs.kill_when(process, log, "paused at export")

    leftovers = sorted(p.name for p in runs.out.rglob("*.tmp"))  # the run folder being written
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{AS_OF}.turnover-")
    assert csv_files(runs.out) == before and (runs.out / f"report_{AS_OF}.html").read_bytes() == report  # byte for byte
    assert_consistent(runs.db)
    assert run_statuses(runs.db) == ["completed", "interrupted"]

    runs.complete("next")
    assert_complete_outputs(runs.out)
    assert csv_files(runs.out) == before  # the same inputs, the same CSVs; the leftover is gone
    assert_consistent(runs.db)
    assert run_statuses(runs.db) == ["completed", "interrupted", "completed"]


def test_a_disk_that_fills_during_the_export_is_one_clear_line_and_a_failed_run(prefect_server, tmp_path, monkeypatch,
                                                                                capsys):
    from turnover.io import files

    monkeypatch.chdir(tmp_path)  # the demo is generated under ./data/demo
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    write_new = files.write_new

    def fills_up(path, writer):
        if out in path.parents and any(path.parent.iterdir()):  # the run folder's second file: the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_new(path, writer)

    monkeypatch.setattr(files, "write_new", fills_up)
    code = cli.main(["run", "--config", CONFIG, "--demo", "--db", str(db), "--out", str(out), "--as-of", AS_OF])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1
    runs = pipeline.list_runs(load_settings(CONFIG, warehouse_path=db))
    run_id = runs["run_id"].iloc[0][:12]
    assert err == (f"turnover: error: cannot write to output folder {out}: No space left on device [ENOSPC] "
                   f"(writing forecast_{AS_OF}.csv); files already there were left as they were "
                   f"[run {run_id} recorded as failed: turnover runs --show {run_id}]")
    assert not [p for p in out.rglob("*") if p.is_file()]  # no partial file, no staged file
    assert runs["status"].tolist() == ["failed"]
    assert runs["outputs"].iloc[0][0].startswith("error: OutputError: cannot write to output folder")
