"""Settings: a key that does not exist is refused by name with the closest valid one; values are bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from turnover.settings import MODEL_NAMES, SettingsError, load_settings


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """An empty settings file in a folder of its own, and no TURNOVER_* setting in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in [v for v in os.environ if v.startswith("TURNOVER_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "turnover.toml"
    path.write_text("")
    return path


def test_a_misspelt_key_in_the_settings_file_is_refused_naming_the_closest_one(config):
    config.write_text("[policy]\nreview_period_dayz = 14\n")
    with pytest.raises(SettingsError, match=r"unknown setting policy\.review_period_dayz \(did you mean "
                                            r"'policy\.review_period_days'\?\) in .*turnover\.toml"):
        load_settings(config)


def test_a_misspelt_top_level_key_is_refused_too(config):
    config.write_text('warehouse_pth = "x.duckdb"\n')
    with pytest.raises(SettingsError, match=r"warehouse_pth \(did you mean 'warehouse_path'\?\)"):
        load_settings(config)


def test_a_misspelt_environment_variable_is_refused_naming_the_closest_one(config, monkeypatch):
    monkeypatch.setenv("TURNOVER_POLICY__SERVICE_LEVL", "0.98")
    with pytest.raises(SettingsError, match=r"TURNOVER_POLICY__SERVICE_LEVL \(did you mean "
                                            r"TURNOVER_POLICY__SERVICE_LEVEL\?\)"):
        load_settings(config)


def test_a_misspelt_section_in_the_environment_is_refused(config, monkeypatch):
    monkeypatch.setenv("TURNOVER_POLCY__SERVICE_LEVEL", "0.98")
    with pytest.raises(SettingsError, match="TURNOVER_POLCY__SERVICE_LEVEL"):
        load_settings(config)


def test_turnover_variables_that_are_not_settings_keep_working(config, monkeypatch):
    for name in ("TURNOVER_DB", "TURNOVER_RUN", "TURNOVER_LOCATION", "TURNOVER_DRUG", "TURNOVER_HOME",
                 "TURNOVER_REQUIRE_CHROMIUM", "TURNOVER_TEST_PAUSE_AT"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("TURNOVER_POLICY__SERVICE_LEVEL", "0.98")
    monkeypatch.setenv("TURNOVER_OUTPUT_DIR", "elsewhere")
    settings = load_settings(config)
    assert settings.policy.service_level == 0.98 and settings.output_dir == Path("elsewhere")


@pytest.mark.parametrize("section, key, value", [
    ("forecast", "seed", "-1"),
    ("forecast", "n_paths", "50000000"),
    ("forecast", "candidates_smooth", '["exp_smoothing", "holt_winter"]'),
])
def test_values_out_of_bounds_are_refused_before_any_work(config, section, key, value):
    config.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ValidationError, match=key):
        load_settings(config)


def test_an_unknown_model_is_named_with_the_closest_one(config):
    config.write_text('[forecast]\ncandidates_smooth = ["holt_winter"]\n')
    with pytest.raises(ValidationError, match="unknown model 'holt_winter' \\(did you mean 'holt_winters'\\?\\)"):
        load_settings(config)


def test_the_model_names_settings_accept_are_the_registry_and_the_global_model():
    from turnover.forecasting.models import GLOBAL_GBM, REGISTRY

    assert set(MODEL_NAMES) == set(REGISTRY) | {GLOBAL_GBM}


def test_the_committed_settings_file_loads():
    repository = Path(__file__).resolve().parents[1]
    assert load_settings(repository / "turnover.toml").forecast.max_days_after_last_dispensing == 13


def test_the_horizon_is_in_the_runs_own_periods_and_defaults_to_a_quarter_of_weeks_or_a_year_of_months(config):
    assert load_settings(config).forecast.horizon_periods() == 13
    assert load_settings(config, forecast={"period": "month"}).forecast.horizon_periods() == 12
    monthly = load_settings(config, forecast={"period": "month", "horizon": 18})
    assert monthly.forecast.horizon_periods() == 18 and monthly.par_calendar_periods() == 18
    assert monthly.forecast.horizon_days() == 548  # 18 average months, rounded up


def test_the_older_horizon_weeks_variable_keeps_working_and_the_new_setting_wins(config, monkeypatch):
    monkeypatch.setenv("TURNOVER_FORECAST__HORIZON_WEEKS", "26")
    assert load_settings(config).forecast.horizon_periods() == 26
    assert load_settings(config, forecast={"period": "month"}).forecast.horizon_periods() == 6  # 26 weeks in months
    monkeypatch.setenv("TURNOVER_FORECAST__HORIZON", "8")
    assert load_settings(config).forecast.horizon_periods() == 8


def test_the_par_calendar_follows_the_horizon_unless_its_weeks_are_set(config):
    assert load_settings(config, forecast={"horizon": 20}).par_calendar_periods() == 20
    weekly = load_settings(config, forecast={"horizon": 20}, policy={"par_calendar_weeks": 4})
    assert weekly.par_calendar_periods() == 4
