"""The weekly flow, run for real through the ``turnover`` command under a Prefect server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows import cli
from tests.conftest import REPO, SHARED
from turnover import schema
from turnover.demo.synthetic import DRUGS
from turnover.io.warehouse import open_warehouse

pytestmark = pytest.mark.slow
CONFIG = str(REPO / "turnover.toml")


def run_cli(*args: str) -> int:
    return cli.main(["run", "--config", CONFIG, *args])


def table_counts(db: Path) -> dict[str, int]:
    tables = (schema.DISPENSING, schema.DISPENSING_REJECTS, schema.LOADED_FILES, schema.CATALOG, schema.ON_HAND,
              schema.ON_HAND_LOTS, schema.RECALLS, schema.SHORTAGES)
    with open_warehouse(db, read_only=True) as con:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def test_the_demo_run_writes_the_csvs_and_a_rerun_changes_nothing(prefect_server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the demo is generated under ./data/demo
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    assert run_cli("--demo", "--db", str(db), "--out", str(out), "--as-of", "2026-11-22") == 0
    printed = capsys.readouterr().out
    par_file, forecast_file = out / "par_levels_2026-11-22.csv", out / "forecast_2026-11-22.csv"
    assert f"wrote   {par_file}" in printed and "rejected 0" in printed
    pars = pd.read_csv(par_file, dtype={"drug_id": str})
    assert len(pars) == 3 * len(DRUGS) and pd.read_csv(forecast_file).shape[0] == 3 * len(DRUGS) * 13

    before, first_bytes = table_counts(db), par_file.read_bytes()
    assert run_cli("--demo", "--db", str(db), "--out", str(out), "--as-of", "2026-11-22") == 0
    assert "already loaded" in capsys.readouterr().out
    assert table_counts(db) == before
    assert par_file.read_bytes() == first_bytes  # seeded per series: the same inputs, the same CSV
    with open_warehouse(db, read_only=True) as con:
        assert con.execute(f"select count(*), count(distinct run_id) from {schema.RUNS} where status = 'completed'").fetchone() == (2, 2)


@pytest.mark.realdata
@pytest.mark.extended
@pytest.mark.skipif(not (SHARED / "datasets" / "pharma_sales" / "salesdaily.csv").is_file(), reason="../shared is absent")
def test_real_pharmacy_airway_drugs_peak_in_autumn_and_antihistamines_in_spring(prefect_server, tmp_path):
    sales = str(SHARED / "datasets" / "pharma_sales" / "salesdaily.csv")
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    pars = {}
    for as_of in ("2017-07-09", "2017-10-08", "2018-04-08"):
        assert run_cli("--history", sales, "--as-of", as_of, "--db", str(db), "--out", str(out)) == 0
        pars[as_of] = pd.read_csv(out / f"par_levels_{as_of}.csv").set_index("drug_id")["par_level_units"]
    assert pars["2017-10-08"]["R03"] > pars["2017-07-09"]["R03"]  # airway: October above July
    assert pars["2018-04-08"]["R06"] > pars["2017-10-08"]["R06"]  # antihistamines: early April above early October


def test_a_missing_history_file_is_a_one_line_error_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--history", "/no/such/file.csv"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().endswith("no such file: /no/such/file.csv")


def test_a_bad_as_of_date_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--demo", "--as-of", "29/11/2026"])
    assert stop.value.code == 2
    assert "not a date (YYYY-MM-DD): '29/11/2026'" in capsys.readouterr().err


def test_a_file_missing_a_required_column_fails_the_run_with_file_and_column_named(prefect_server, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("dispensed_at,location_id,quantity\n2026-01-05,S1,3\n")
    code = run_cli("--history", str(bad), "--db", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1 and err.startswith("turnover: error:") and "bad.csv: missing required column(s) ['drug_id']" in err
    assert "recorded" not in err  # the load failed before the run started: nothing was recorded
    assert not (tmp_path / "out").exists()


def test_a_run_that_fails_building_demand_is_recorded_failed_and_the_screen_says_so(prefect_server, tmp_path,
                                                                                   monkeypatch, capsys):
    from turnover import pipeline
    from turnover.settings import load_settings

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "build_demand", broken)
    db = tmp_path / "w.duckdb"
    assert run_cli("--demo", "--db", str(db), "--out", str(tmp_path / "out"), "--as-of", "2026-11-22") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # Prefect's own lines about the failed task come first
    assert err.startswith("turnover: error: RuntimeError: out of memory [run ") and "recorded as failed" in err
    runs = pipeline.list_runs(load_settings(CONFIG, warehouse_path=db))
    assert list(runs["status"]) == ["failed"] and runs["outputs"].iloc[0] == ["error: RuntimeError: out of memory"]


@pytest.mark.extended  # a second demo run through the flow: make test keeps the one above
def test_turnover_runs_lists_completed_runs_and_a_failed_run_says_so(prefect_server, tmp_path, monkeypatch, capsys):
    from turnover import pipeline
    from turnover.settings import load_settings

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "w.duckdb"
    assert run_cli("--demo", "--db", str(db), "--out", str(tmp_path / "out"), "--as-of", "2026-11-15") == 0

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "set_par_levels", broken)
    assert run_cli("--demo", "--db", str(db), "--out", str(tmp_path / "out"), "--as-of", "2026-11-22") == 1
    capsys.readouterr()
    assert cli.main(["runs", "--db", str(db), "--config", CONFIG]) == 0
    listing = capsys.readouterr().out
    assert "2026-11-15" in listing and "completed" in listing
    assert "2026-11-22" in listing and "failed" in listing
    runs = pipeline.list_runs(load_settings(CONFIG, warehouse_path=db))
    assert runs.loc[runs["status"] == "failed", "outputs"].iloc[0][0] == "error: RuntimeError: disk full"
