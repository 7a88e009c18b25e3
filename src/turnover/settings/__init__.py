"""One typed settings object, read from ``turnover.toml`` and ``TURNOVER_*`` environment variables.

Precedence, highest first: explicit keyword overrides, environment (``TURNOVER_POLICY__SERVICE_LEVEL``,
nested with ``__``), the TOML file, the defaults in the sections' modules (``sections``: reading exports;
``forecast``; ``policy``; ``operations``: execution, retention, tracking). Nothing is read at import time.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

from turnover.settings.forecast import DAYS_PER_PERIOD, DEFAULT_HORIZON, MODEL_NAMES, PERIOD_DEFAULTS, ForecastSettings
from turnover.settings.operations import ExecutionSettings, RetentionSettings, TrackingSettings
from turnover.settings.policy import ABC_CLASSES, PolicySettings, ShortageSettings
from turnover.settings.sections import (
    CANONICAL_MAPPING,
    DEFAULT_DATE_FORMATS,
    CensorSettings,
    ColumnMapping,
    Criticality,
    IngestSettings,
    Period,
    Section,
    SignalLink,
    closest_hint,
)

__all__ = [
    "ABC_CLASSES", "CANONICAL_MAPPING", "DAYS_PER_PERIOD", "DEFAULT_CONFIG_FILE", "DEFAULT_DATE_FORMATS", "DEFAULT_HORIZON",
    "MODEL_NAMES", "NON_SETTING_VARIABLES", "PERIOD_DEFAULTS", "CensorSettings", "ColumnMapping", "Criticality",
    "ExecutionSettings", "ForecastSettings", "IngestSettings", "Period", "PolicySettings", "RetentionSettings",
    "Section", "Settings", "SettingsError", "ShortageSettings", "SignalLink", "TrackingSettings", "load_settings",
    "setting_names",
]

DEFAULT_CONFIG_FILE = "turnover.toml"


class Settings(BaseSettings):
    """Every setting of a run. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="TURNOVER_", env_nested_delimiter="__", extra="forbid")

    warehouse_path: Path = Path("data/warehouse.duckdb")
    output_dir: Path = Path("data/out")
    demo_dir: Path = Field(Path("data/demo"), description="The demo's exports, and its own warehouse and outputs.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):  # noqa: D102
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[Any] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def demo_warehouse_path(self) -> Path:
        """The demo's own warehouse, ``<demo_dir>/warehouse.duckdb``: the demo never shares one with real data."""
        return self.demo_dir / "warehouse.duckdb"

    @property
    def demo_output_dir(self) -> Path:
        """The demo's own output folder, ``<demo_dir>/out``."""
        return self.demo_dir / "out"

    def warehouse_to_read(self, root: Path | None = None) -> Path:
        """The warehouse a reader opens (``turnover runs``, the notebooks): ``warehouse_path``, else, while that
        does not exist and the demo's does (after ``make run``), the demo's. Relative paths are read from ``root``
        (default: the working directory)."""
        own, demo = ((path if path.is_absolute() or root is None else root / path)
                     for path in (self.warehouse_path, self.demo_warehouse_path))
        return demo if not own.is_file() and demo.is_file() else own

    def par_calendar_periods(self) -> int:
        """Review days ahead in the par calendar: ``policy.par_calendar_weeks`` in a weekly run where set, else the
        forecast horizon (weeks, or months in a monthly run)."""
        weeks = self.policy.par_calendar_weeks
        return weeks if weeks is not None and self.forecast.period == "week" else self.forecast.horizon_periods()

    def for_demo(self, explicit: Iterable[str] = ()) -> Settings:
        """These settings for a demo run: the demo's warehouse and output folder, except where ``explicit`` (the
        names given on the command line or as flow overrides: ``warehouse_path``, ``output_dir``) chose."""
        update = {"warehouse_path": self.demo_warehouse_path, "output_dir": self.demo_output_dir}
        chosen = set(explicit)
        return self.model_copy(update={k: v for k, v in update.items() if k not in chosen})


#: ``TURNOVER_*`` environment variables that are not settings: the notebooks', the deployment's and the tests'.
NON_SETTING_VARIABLES = frozenset({
    "TURNOVER_CONFIG", "TURNOVER_DB", "TURNOVER_RUN", "TURNOVER_LOCATION", "TURNOVER_DRUG", "TURNOVER_HOME",
    "TURNOVER_REPLAY_WEEKS", "TURNOVER_REQUIRE_CHROMIUM", "TURNOVER_TEST_PAUSE_AT", "TURNOVER_TEST_PAUSE_SECONDS",
})


def setting_names(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Every setting's dotted name (``policy.review_period_days``); a list of sections counts as its section."""
    names = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        names.append(dotted)
        for inner in (field.annotation, *get_args(field.annotation)):
            if isinstance(inner, type) and issubclass(inner, Section):
                names += setting_names(inner, f"{dotted}.")
    return names


class SettingsError(ValueError):
    """A settings file or ``TURNOVER_*`` variable names a setting that does not exist."""


def _check_environment(known: list[str]) -> None:
    sections = {name.rsplit(".", 1)[0] for name in known if "." in name}
    for variable in sorted(v for v in os.environ if v.startswith("TURNOVER_") and v not in NON_SETTING_VARIABLES):
        dotted = variable.removeprefix("TURNOVER_").lower().replace("__", ".")
        # a dict-valued setting (policy.service_levels) takes keys below it; a section only its own
        if dotted in known or any(dotted.startswith(f"{n}.") for n in known if n not in sections):
            continue
        close = difflib.get_close_matches(dotted, known, n=1)
        hint = f" (did you mean TURNOVER_{close[0].upper().replace('.', '__')}?)" if close else ""
        raise SettingsError(f"unknown setting in the environment: {variable}{hint}")


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``config_path`` (else ``$TURNOVER_CONFIG``, else ``./turnover.toml`` if present).

    Raises:
        FileNotFoundError: an explicitly named config file does not exist.
        SettingsError: the file or a ``TURNOVER_*`` variable names an unknown setting (the closest is named).
        pydantic.ValidationError: a value is out of range; the message names the field.
    """
    path = config_path or os.environ.get("TURNOVER_CONFIG")
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    known = setting_names()
    _check_environment(known)
    config = SettingsConfigDict(**{**Settings.model_config, "toml_file": str(path) if path else None})
    bound = type("Settings", (Settings,), {"model_config": config})
    try:
        return Settings.model_validate(bound(**overrides).model_dump())
    except ValidationError as exc:
        unknown = [e for e in exc.errors() if e["type"] == "extra_forbidden"]
        if not unknown:
            raise
        dotted = ".".join(str(part) for part in unknown[0]["loc"] if not isinstance(part, int))
        where = " or ".join([*([str(path)] if path else []), *(["the options given"] if overrides else [])])
        raise SettingsError(f"unknown setting {dotted}{closest_hint(dotted, known)} in {where or 'the settings'}"
                            ) from None
