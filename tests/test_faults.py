"""Faults around a run: a busy warehouse, retried steps, an output folder that cannot be written, a full disk, a
umask, planted symbolic links, and an export killed at each point of its publishing (in a subprocess).

The kills of a real run (mid-forecast, mid-export) are in ``tests/flows/test_faults_flow.py``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows import cli
from tests.conftest import LATE_NOVEMBER, REPO, make_settings
from turnover import pipeline, schema
from turnover.io import files, publish
from turnover.io.warehouse import connect, open_warehouse, quote_identifier

CONFIG = str(REPO / "turnover.toml")
TURNOVER = Path(sys.executable).with_name("turnover")
RUN = f"run-{LATE_NOVEMBER}"  # the demo warehouse's November run


# --- a busy warehouse -------------------------------------------------------------------------------------

HOLDERS = {
    # A notebook or the duckdb shell with the file open for writing.
    "duckdb": "import duckdb; con = duckdb.connect(DB)",
    # A turnover run between two steps: the DuckDB file is closed, the run lock is held.
    "run": "from turnover.io.warehouse import hold; lock = hold(DB); lock.__enter__()",
}


def hold_warehouse(db: Path, how: str) -> subprocess.Popen:
    """A process holding the warehouse the way ``how`` says, until it is killed."""
    code = f"DB = {str(db)!r}\n{HOLDERS[how]}\nprint('holding', flush=True)\nimport time; time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    return holder


def turnover_run(cwd: Path, db: Path, out: Path) -> subprocess.CompletedProcess:
    command = [str(TURNOVER)] if TURNOVER.exists() else [sys.executable, "-m", "flows.cli"]
    command += ["run", "--config", CONFIG, "--demo", "--db", str(db), "--out", str(out), "--as-of", str(LATE_NOVEMBER)]
    env = {**os.environ, "PREFECT_HOME": str(cwd / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("how", ["duckdb", "run"])
def test_a_run_while_another_process_holds_the_warehouse_is_refused_in_one_line(tmp_path, how, capsys):
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    connect(db).close()  # an existing warehouse
    holder = hold_warehouse(db, how)
    try:
        result = turnover_run(tmp_path, db, out)
        assert cli.main(["runs", "--db", str(db), "--config", CONFIG]) == (1 if how == "duckdb" else 0)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    expected = {
        "duckdb": f"warehouse busy: {db} is open in another process (PID {holder.pid}); wait for it to finish or "
                  "close it, then run again",
        "run": f"warehouse busy: {db} is in use by another turnover run; wait for it to finish, then run again",
    }[how]
    assert result.returncode == 1
    assert (result.stdout + result.stderr).strip() == f"turnover: error: {expected}"  # one line, no traceback
    assert not out.exists() and not (tmp_path / "data").exists()  # refused before any work (no demo, no output)
    if how == "duckdb":  # `turnover runs` cannot read it either, and says why
        assert capsys.readouterr().err.strip() == f"turnover: error: {expected}"


# --- retried steps are idempotent -------------------------------------------------------------------------

RETRIED_STEPS = ("load_history", "load_reference", "load_signals", "score_forecasts", "forecast", "set_par_levels",
                 "export", "record_run", "apply_retention")  # in the flow's order


def rerun_steps(settings, demo_files) -> dict:
    """Each step the flow retries, as its task calls it, on the demo warehouse's November run."""
    reference = {"catalog": demo_files.catalog, "on_hand": demo_files.on_hand, "recalls": demo_files.recalls,
                 "shortages": demo_files.shortages, "stockouts": demo_files.stockouts, "closures": demo_files.closures}
    return {
        "load_history": lambda: pipeline.load_history(settings, demo_files.history),
        "load_reference": lambda: pipeline.load_reference(settings, **reference),
        "load_signals": lambda: pipeline.load_signals(settings, {"ilinet": demo_files.ilinet}),
        "score_forecasts": lambda: pipeline.score_forecasts(settings, RUN, LATE_NOVEMBER),
        "forecast": lambda: pipeline.forecast(settings, RUN, LATE_NOVEMBER),
        "set_par_levels": lambda: pipeline.set_par_levels(settings, RUN, LATE_NOVEMBER),
        "export": lambda: pipeline.export(settings, RUN, LATE_NOVEMBER),
        "record_run": lambda: pipeline.record_run(settings, RUN, step_seconds={"forecast": 1.5}, rows_read=7),
        "apply_retention": lambda: pipeline.apply_retention(settings, LATE_NOVEMBER),
    }


# A second load of the same reference files replaces each table with the same rows; the load log
# (ref.loaded_files, one row per load with its time) records that it happened.
EXPECTED_ROWS_ADDED = {"load_reference": {schema.REFERENCE_FILES: 6}}


def test_the_flow_retries_exactly_the_steps_checked_for_idempotence_here():
    from prefect import Task

    from flows import execution, weekly

    retried = {name for name, task in vars(weekly).items() if isinstance(task, Task) and task.retries}
    assert retried == set(RETRIED_STEPS)
    assert not weekly.start_run.retries  # it starts the run afresh
    assert not weekly.publish_summary.retries  # a second artifact is a second entry in the history
    assert execution.series_batch.retries == 1  # pure: reads and writes nothing


def warehouse_contents(db: Path) -> dict[str, tuple[int, int]]:
    """Per table: rows, and a hash of all of them over every column but the times rows were written."""
    contents = {}
    with open_warehouse(db, read_only=True) as con:
        tables = con.execute("select schema_name, table_name from duckdb_tables() where not temporary").fetchall()
        for schema_name, table in tables:
            columns = [quote_identifier(c) for c, t in con.execute(
                "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ?",
                [schema_name, table]).fetchall() if not t.startswith("TIMESTAMP")]
            contents[f"{schema_name}.{table}"] = con.execute(
                f"select count(*), coalesce(sum(hash({', '.join(columns)})::hugeint), 0) from {schema_name}.{table}"
            ).fetchone()
    return contents


def output_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rerun(demo_warehouse, demo_files, tmp_path_factory) -> dict:
    """A copy of the demo warehouse and its November run's steps (the tests run them in the flow's order)."""
    root = tmp_path_factory.mktemp("rerun")
    shutil.copy(demo_warehouse["path"], root / "warehouse.duckdb")
    settings = make_settings(root)
    pipeline.build_demand(settings, LATE_NOVEMBER)  # the staging tables as the run left them (other tests change them)
    steps = rerun_steps(settings, demo_files)
    assert tuple(steps) == RETRIED_STEPS
    return {"settings": settings, "steps": steps}


@pytest.mark.slow
@pytest.mark.parametrize("step", RETRIED_STEPS)
def test_a_retried_step_run_twice_in_a_row_leaves_what_it_left_once(rerun, step):
    settings = rerun["settings"]
    rerun["steps"][step]()  # once: what a failed attempt's retry starts from, at worst
    tables, files = warehouse_contents(settings.warehouse_path), output_bytes(settings.output_dir)
    rerun["steps"][step]()
    after = warehouse_contents(settings.warehouse_path)
    for table, added in EXPECTED_ROWS_ADDED.get(step, {}).items():
        assert after[table][0] == tables[table][0] + added
        after[table] = tables[table]
    assert after == tables
    assert output_bytes(settings.output_dir) == files


# --- an output folder that cannot be written, a full disk -------------------------------------------------

def test_an_output_folder_that_cannot_be_created_is_one_line_naming_it_before_any_work(tmp_path, monkeypatch, capsys):
    # Tests run as root here, where a read-only mode stops nothing: a folder under a regular file cannot be made.
    monkeypatch.chdir(tmp_path)
    regular = tmp_path / "a-file"
    regular.write_text("not a folder")
    for out in (regular / "out", regular):
        assert cli.main(["run", "--config", CONFIG, "--demo", "--db", str(tmp_path / "w.duckdb"), "--out", str(out)]) == 1
        assert capsys.readouterr().err == f"turnover: error: cannot write to output folder {out}: {regular} is a file, not a folder\n"
    assert not (tmp_path / "data").exists()  # refused before the demo was generated or Prefect started


def refused(code: int):
    """An ``open`` that the file system refuses with ``code``."""
    def refuse(*args, **kwargs):
        raise PermissionError(code, os.strerror(code))

    return refuse


def test_a_read_only_output_folder_is_one_line_naming_it_before_any_work(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    if os.geteuid() == 0:  # root writes in it all the same: what any other user gets is simulated
        monkeypatch.setattr(files.tempfile, "TemporaryFile", refused(errno.EACCES))
    try:
        assert cli.main(["run", "--config", CONFIG, "--demo", "--db", str(tmp_path / "w.duckdb"), "--out", str(out)]) == 1
    finally:
        out.chmod(0o700)
    assert capsys.readouterr().err == f"turnover: error: cannot write to output folder {out}: Permission denied [EACCES]\n"


@pytest.fixture
def exported(demo_warehouse, tmp_path) -> dict:
    """A copy of the demo warehouse whose November run has exported its files once."""
    shutil.copy(demo_warehouse["path"], tmp_path / "warehouse.duckdb")
    settings = make_settings(tmp_path)
    pipeline.export(settings, RUN, LATE_NOVEMBER)
    with open_warehouse(settings.warehouse_path) as con:  # as it is while a run exports
        con.execute(f"update {schema.RUNS} set status = 'running' where run_id = ?", [RUN])
    return {"settings": settings, "files": output_bytes(settings.output_dir)}


def full_disk_at_file(n: int):
    """``os.fsync`` failing as a full disk does, from the ``n``-th file on."""
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) >= n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return fsync


@pytest.mark.parametrize("fault, reason, failing", [
    ("disk full at the third file", "No space left on device [ENOSPC]", f"par_calendar_{LATE_NOVEMBER}.csv"),
    ("folder made read-only", "Read-only file system [EROFS]", f"par_levels_{LATE_NOVEMBER}.csv"),
])
def test_an_export_that_cannot_write_fails_the_run_in_one_line_and_replaces_no_file(exported, monkeypatch, fault,
                                                                                     reason, failing):
    settings, out = exported["settings"], exported["settings"].output_dir
    if fault.startswith("disk full"):
        monkeypatch.setattr(os, "fsync", full_disk_at_file(3))
    else:
        monkeypatch.setattr(files, "open_new", refused(errno.EROFS))
    with pytest.raises(files.OutputError) as failed, pipeline.failures_recorded(settings, RUN):
        pipeline.export(settings, RUN, LATE_NOVEMBER)
    monkeypatch.undo()
    assert str(failed.value) == (f"cannot write to output folder {out}: {reason} (writing {failing}); "
                                 "files already there were left as they were")
    assert output_bytes(out) == exported["files"]  # byte for byte, and no staged file left
    runs = pipeline.list_runs(settings)
    failed_run = runs[runs["run_id"] == RUN].iloc[0]
    assert failed_run["status"] == "failed" and failed_run["outputs"][0] == f"error: OutputError: {failed.value}"


def test_a_first_export_on_a_full_disk_leaves_no_file_at_all(demo_warehouse, tmp_path, monkeypatch):
    shutil.copy(demo_warehouse["path"], tmp_path / "warehouse.duckdb")
    settings = make_settings(tmp_path)
    monkeypatch.setattr(os, "fsync", full_disk_at_file(5))
    with pytest.raises(files.OutputError, match=r"No space left on device \[ENOSPC\]"):
        pipeline.export(settings, RUN, LATE_NOVEMBER)
    assert not [p for p in settings.output_dir.rglob("*") if p.is_file()]


def test_files_staged_by_a_killed_export_are_removed_by_the_next(exported):
    settings, out = exported["settings"], exported["settings"].output_dir
    leftover = out / f".par_levels_{LATE_NOVEMBER}.csv{files.TEMP_MARK}k1ll3d.tmp"
    leftover.write_text('"location_id","drug_id"\n"STORE-01","000')  # half a file
    unrelated = out / ".someone-elses.tmp"
    unrelated.write_text("kept")
    pipeline.export(settings, RUN, LATE_NOVEMBER)
    assert not leftover.exists() and unrelated.read_text() == "kept"
    assert {k: v for k, v in output_bytes(out).items() if k != unrelated.name} == exported["files"]


# --- the files are readable by others, as the umask says --------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_an_output_file_has_the_mode_the_umask_gives_also_when_it_replaces_one(tmp_path, umask, mode):
    path = tmp_path / "pars.csv"
    path.write_text("last week")
    path.chmod(0o640)
    before = os.umask(umask)
    try:
        files.write_csv_atomic(pd.DataFrame({"drug_id": ["A"]}), path)
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_purchasing_on_a_shared_folder_can_open_every_file_an_export_writes(demo_warehouse, tmp_path):
    shutil.copy(demo_warehouse["path"], tmp_path / "warehouse.duckdb")
    settings = make_settings(tmp_path)
    before = os.umask(0o002)  # a group-shared folder
    try:
        pipeline.export(settings, RUN, LATE_NOVEMBER)
    finally:
        os.umask(before)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in settings.output_dir.rglob("*")}
    assert {path: 0o775 if (tmp_path / path).is_dir() else 0o664 for path in modes} == modes


# --- symbolic links are never followed --------------------------------------------------------------------

def test_a_symlink_planted_in_the_output_folder_is_refused_and_nothing_is_written_or_deleted_through_it(
        demo_warehouse, tmp_path):
    shutil.copy(demo_warehouse["path"], tmp_path / "warehouse.duckdb")
    settings = make_settings(tmp_path)
    out, elsewhere = settings.output_dir, tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = {elsewhere / f".par_levels_{LATE_NOVEMBER}.csv{files.TEMP_MARK}x.tmp": "kept",
                elsewhere / f"par_levels_{LATE_NOVEMBER}_STORE-01.csv": "kept", elsewhere / "notes.txt": "kept"}
    for path, text in precious.items():
        path.write_text(text)
    out.mkdir()
    (out / "by_location").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(files.OutputError) as refused:
        pipeline.export(settings, RUN, LATE_NOVEMBER)
    assert str(refused.value) == (f"cannot write to output folder {out}: {out / 'by_location'} is a symbolic link "
                                  "(outputs are never written through one; remove it and run again)")
    assert {p: p.read_text() for p in elsewhere.iterdir()} == precious
    assert not [p for p in out.rglob("*") if p.is_file()]

    # Links named like an export's leftovers are removed as links: what they point to is left alone.
    (out / "by_location").unlink()
    (out / f".par_levels_{LATE_NOVEMBER}.csv{files.TEMP_MARK}y.tmp").symlink_to(elsewhere / "notes.txt")
    (out / f".forecast_{LATE_NOVEMBER}.csv{files.TEMP_MARK}z.tmp").symlink_to(elsewhere, target_is_directory=True)
    pipeline.export(settings, RUN, LATE_NOVEMBER)
    assert {p: p.read_text() for p in elsewhere.iterdir()} == precious
    assert not [p for p in out.rglob(f"*{files.TEMP_MARK}*")]


# --- the published set switches at once -------------------------------------------------------------------

KILLED_EXPORT = ("import sys; from datetime import date; from pathlib import Path; "
                 "from tests.conftest import make_settings; from turnover import pipeline; "
                 "pipeline.export(make_settings(Path(sys.argv[1])), sys.argv[2], date.fromisoformat(sys.argv[3]))")


def kill_export_at(root: Path, point: str) -> None:
    """Export the November run in another process and SIGKILL it when it pauses at ``point``."""
    environment = {**os.environ, "TURNOVER_TEST_PAUSE_AT": point}
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(root), RUN, str(LATE_NOVEMBER)], cwd=REPO,
                               env=environment, stderr=subprocess.PIPE, text=True)
    try:
        said = []
        for line in process.stderr:
            said.append(line)
            if f"paused at {point}" in line:
                break
        else:
            pytest.fail(f"the export ended (exit {process.wait()}) before pausing at {point}:\n{''.join(said)[-3000:]}")
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


def published_set(out: Path) -> dict[str, bytes]:
    """What a reader trusting the manifest reads: every file it names, from the run folder it names."""
    manifest = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    return {name: (out / manifest["folder"] / name).read_bytes() for name in manifest["files"]}


def public_files(out: Path) -> dict[str, bytes]:
    """The files purchasing opens: the output folder but its run folders and the manifest."""
    return {name: data for name, data in output_bytes(out).items()
            if not name.startswith("runs/") and name != "latest.json"}


@pytest.mark.slow
@pytest.mark.extended  # three subprocesses killed on purpose
@pytest.mark.parametrize("point", ["export", "commit", "publish"])
def test_an_export_killed_anywhere_in_publishing_leaves_one_whole_set_and_the_next_cleans_up(exported, point):
    settings, out = exported["settings"], exported["settings"].output_dir
    last_week = published_set(out)
    assert public_files(out) == last_week == {k: v for k, v in exported["files"].items() if k in last_week}
    with open_warehouse(settings.warehouse_path) as con:  # this week's run: every par level reads differently
        con.execute(f"update {schema.PAR_LEVELS} set reason = reason || ' (corrected)' where run_id = ?", [RUN])

    kill_export_at(settings.warehouse_path.parent, point)
    after_kill = published_set(out)
    assert (public_files(out) == after_kill) is (point != "publish")  # killed mid-publish: top-level files mixed
    publish.republish(out)  # what the next run does first
    assert public_files(out) == after_kill
    pipeline.export(settings, RUN, LATE_NOVEMBER)  # the next run
    this_week = published_set(out)

    assert this_week.keys() == last_week.keys() and all(this_week[k] != last_week[k] for k in this_week
                                                        if k.startswith(("par_levels", "by_location")))
    assert after_kill == (last_week if point in ("export", "commit") else this_week)  # never a mix
    assert public_files(out) == this_week
    assert [p.name for p in (out / "runs").iterdir()] == [json.loads((out / "latest.json").read_text())["folder"][5:]]
    assert not [p for p in out.rglob(f"*{files.TEMP_MARK}*")]
