"""What a notebook opens: the warehouse read from the project root, and the run ``TURNOVER_RUN`` names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from turnover.io import notebook, outputs


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder: a turnover.toml naming data/w.duckdb (present), and a notebooks/ folder beside it."""
    for name in ("TURNOVER_DB", "TURNOVER_RUN", "TURNOVER_CONFIG", "TURNOVER_WAREHOUSE_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "turnover.toml").write_text('warehouse_path = "data/w.duckdb"\n')
    for path in ("data/w.duckdb", "data/other.duckdb"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).touch()
    (tmp_path / "notebooks").mkdir()
    return tmp_path


@pytest.mark.parametrize("folder", [".", "notebooks"])
def test_the_settings_warehouse_is_read_from_the_folder_holding_turnover_toml(project, folder, monkeypatch):
    monkeypatch.chdir(project / folder)
    assert notebook.project_config() == project / "turnover.toml"
    assert notebook.warehouse_path() == project / "data" / "w.duckdb"


def test_an_absolute_turnover_db_is_the_warehouse_wherever_the_notebook_runs(project, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.duckdb"
    elsewhere.touch()
    monkeypatch.setenv("TURNOVER_DB", str(elsewhere))
    monkeypatch.chdir(project / "notebooks")
    assert notebook.warehouse_path() == elsewhere


@pytest.mark.parametrize("folder", [".", "notebooks"])
def test_a_relative_turnover_db_is_read_from_the_project_root_not_the_working_directory(project, folder, monkeypatch):
    monkeypatch.setenv("TURNOVER_DB", "data/other.duckdb")
    monkeypatch.chdir(project / folder)
    assert notebook.warehouse_path() == project / "data" / "other.duckdb"


def test_the_settings_override_of_warehouse_path_flows_through(project, monkeypatch):
    monkeypatch.setenv("TURNOVER_WAREHOUSE_PATH", "data/other.duckdb")
    monkeypatch.chdir(project / "notebooks")
    assert notebook.warehouse_path() == project / "data" / "other.duckdb"


def test_a_missing_warehouse_says_how_to_build_one(project, monkeypatch):
    monkeypatch.setenv("TURNOVER_DB", "data/absent.duckdb")
    monkeypatch.chdir(project / "notebooks")
    with pytest.raises(FileNotFoundError, match=r"absent\.duckdb.*weekly run.*TURNOVER_DB"):
        notebook.warehouse_path()


def test_without_a_turnover_toml_above_the_repository_the_package_comes_from_is_the_root(tmp_path, monkeypatch):
    monkeypatch.delenv("TURNOVER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    repository = Path(notebook.__file__).resolve().parents[3]
    assert notebook.project_config() == repository / "turnover.toml"


def test_turnover_run_names_a_run_by_its_id_or_its_first_characters(con, monkeypatch):
    for run_id, as_of in (("3f2a9c-may", date(2026, 5, 24)), ("3f2b17-nov", date(2026, 11, 22))):
        outputs.start_run(con, run_id, as_of, "week", "{}")
        outputs.finish_run(con, run_id, 1, [])
    monkeypatch.delenv("TURNOVER_RUN", raising=False)
    assert notebook.chosen_run(con)[0] == "3f2b17-nov"  # the latest completed run
    for chosen, expected in (("3f2a9c-may", "3f2a9c-may"), ("3f2a", "3f2a9c-may"), ("3f2b", "3f2b17-nov")):
        monkeypatch.setenv("TURNOVER_RUN", chosen)
        assert notebook.chosen_run(con)[0] == expected
    monkeypatch.setenv("TURNOVER_RUN", "3f2")
    with pytest.raises(LookupError, match="starts several run ids"):
        notebook.chosen_run(con)
    monkeypatch.setenv("TURNOVER_RUN", "9")
    with pytest.raises(LookupError, match="no run '9'"):
        notebook.chosen_run(con)


def test_a_run_id_that_starts_another_is_still_found_by_itself(con):
    for run_id in ("run-1", "run-10"):
        outputs.start_run(con, run_id, date(2026, 11, 22), "week", "{}")
    assert outputs.find_run(con, "run-1")[0] == "run-1"


def test_before_any_run_of_ones_own_the_notebooks_read_the_demo_warehouse(project, monkeypatch):
    (project / "data" / "w.duckdb").unlink()
    (project / "data" / "demo").mkdir()
    (project / "data" / "demo" / "warehouse.duckdb").touch()
    monkeypatch.chdir(project / "notebooks")
    assert notebook.warehouse_path() == project / "data" / "demo" / "warehouse.duckdb"
