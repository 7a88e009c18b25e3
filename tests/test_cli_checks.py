"""The command line's own checks: the demo's paths, the run screen's warnings, what `turnover runs` accepts."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from flows import cli, cli_run
from tests.conftest import REPO


def run_args(*argv: str):
    return cli.build_parser().parse_args(["run", "--config", str(REPO / "turnover.toml"), *argv])


def test_the_demo_has_its_own_warehouse_and_output_folder_unless_db_or_out_name_others(monkeypatch):
    monkeypatch.delenv("TURNOVER_WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("TURNOVER_OUTPUT_DIR", raising=False)
    demo = cli_run.run_settings(run_args("--demo"))
    assert (demo.warehouse_path, demo.output_dir) == (Path("data/demo/warehouse.duckdb"), Path("data/demo/out"))
    own = cli_run.run_settings(run_args("--history", str(REPO / "turnover.toml")))
    assert (own.warehouse_path, own.output_dir) == (Path("data/warehouse.duckdb"), Path("data/out"))
    chosen = cli_run.run_settings(run_args("--demo", "--db", "x.duckdb"))
    assert (chosen.warehouse_path, chosen.output_dir) == (Path("x.duckdb"), Path("data/demo/out"))


def test_the_run_screen_prints_each_warning():
    summary = {"loads": [], "warnings": ["w.duckdb also holds dispensing at 1 location(s)"], "as_of": "2026-11-22",
               "series": 2, "run_id": "r", "outputs": [], "output_dir": "out"}
    with contextlib.redirect_stdout(io.StringIO()) as screen:
        cli_run.print_run(summary)
    assert "\nwarning w.duckdb also holds dispensing at 1 location(s)\n" in screen.getvalue()


@pytest.mark.parametrize("argv, message", [
    (["--limit", "-1"], "not a whole number of 1 or more: '-1'"),
    (["--limit", "0"], "not a whole number of 1 or more: '0'"),
    (["--show", ""], "empty: give a run id"),
])
def test_runs_refuses_a_limit_below_one_and_an_empty_run_id(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["runs", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_runs_reads_the_demo_warehouse_while_there_is_no_other(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = cli_run.run_settings(run_args())
    assert settings.warehouse_to_read() == Path("data/warehouse.duckdb")
    (tmp_path / "data" / "demo").mkdir(parents=True)
    (tmp_path / "data" / "demo" / "warehouse.duckdb").touch()
    assert settings.warehouse_to_read() == Path("data/demo/warehouse.duckdb")
    (tmp_path / "data" / "warehouse.duckdb").touch()
    assert settings.warehouse_to_read() == Path("data/warehouse.duckdb")


def test_a_run_with_nothing_to_load_says_so_in_one_line_before_prefect_starts(tmp_path, capsys):
    assert cli.main(["run", "--db", str(tmp_path / "w.duckdb")]) == 2
    assert capsys.readouterr().err == (f"turnover: error: no dispensing loaded in {tmp_path / 'w.duckdb'}: give "
                                       "--history files (or --demo)\n")


def test_replaces_reaches_the_flow_and_the_load_from_the_command_line(tmp_path, monkeypatch):
    import inspect

    from flows import weekly
    from flows.cli import build_parser
    from turnover import pipeline

    new = tmp_path / "new.csv"
    new.write_text("dispensed_at,location_id,drug_id,quantity\n")
    args = build_parser().parse_args(["run", "--history", str(new), "--replaces", "old.csv", "--replaces", "older.csv"])
    assert args.replaces == ["old.csv", "older.csv"]
    assert "replaces" in inspect.signature(weekly.weekly_par_levels.fn).parameters
    assert "replaces" in inspect.signature(weekly.load_history.fn).parameters
    received = []  # the task hands them on to the package's load
    monkeypatch.setattr(pipeline, "load_history", lambda *given: received.append(given) or [])
    weekly.load_history.fn(None, args.history, None, args.replaces)
    assert received == [(None, [str(new)], None, ["old.csv", "older.csv"])]


def test_horizon_and_period_reach_the_runs_settings_together(monkeypatch):
    monkeypatch.delenv("TURNOVER_FORECAST__HORIZON_WEEKS", raising=False)
    settings = cli_run.run_settings(run_args("--demo", "--period", "month", "--horizon", "12"))
    assert (settings.forecast.period, settings.forecast.horizon_periods(), settings.par_calendar_periods()) == (
        "month", 12, 12)
    assert cli_run.run_settings(run_args("--demo", "--horizon", "8")).forecast.horizon_periods() == 8
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        run_args("--horizon", "0")
