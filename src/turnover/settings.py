"""One typed settings object, read from ``turnover.toml`` and ``TURNOVER_*`` environment variables.

Precedence, highest first: explicit keyword overrides, environment (``TURNOVER_POLICY__SERVICE_LEVEL``,
nested with ``__``), the TOML file, the defaults below. Nothing is read at import time.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

from turnover import schema

Period = Literal["week", "month"]
Criticality = Literal["vital", "essential", "non-essential"]

DEFAULT_CONFIG_FILE = "turnover.toml"

# Formats tried, in order, after a plain ISO cast fails. Ambiguous day/month orders are a
# per-export decision, so a mapping lists its own formats first.
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d"]


class Section(BaseModel):
    """A settings section: a key it does not know is refused, not ignored (a typo would silently do nothing)."""

    model_config = ConfigDict(extra="forbid")


class ColumnMapping(Section):
    """How one pharmacy system's export maps onto the canonical dispensing columns.

    ``layout = "long"``: one row per dispensing; ``columns`` maps canonical name -> header.
    ``layout = "wide"``: one row per date and one column per drug (``value_columns``); each cell
    becomes a dispensing row with ``drug_id`` = the column's header.
    A mapping is chosen for a file when every source column it names is in the file's header.
    """

    name: str
    layout: Literal["long", "wide"] = "long"
    columns: dict[str, str] = Field(default_factory=dict)
    date_column: str | None = None
    value_columns: list[str] = Field(default_factory=list)
    location_id: str | None = Field(
        default=None, description="Constant location for exports that carry no location column."
    )
    date_formats: list[str] = Field(default_factory=lambda: list(DEFAULT_DATE_FORMATS))

    @model_validator(mode="after")
    def _check_shape(self) -> ColumnMapping:
        if self.layout == "wide":
            if not self.date_column or not self.value_columns:
                raise ValueError(f"mapping {self.name!r}: wide layout needs date_column and value_columns")
            if not self.location_id and "location_id" not in self.columns:
                raise ValueError(f"mapping {self.name!r}: wide layout needs location_id")
        else:
            needed = {"dispensed_at", "drug_id", "quantity"} | (set() if self.location_id else {"location_id"})
            missing = needed - set(self.columns)
            if missing:
                raise ValueError(f"mapping {self.name!r}: columns lacks {sorted(missing)}")
        return self

    def source_columns(self) -> list[str]:
        """Headers that must all be present for this mapping to apply to a file."""
        if self.layout == "wide":
            return [self.date_column, *self.value_columns, *self.columns.values()]  # type: ignore[list-item]
        return list(self.columns.values())


CANONICAL_MAPPING = ColumnMapping(
    name="canonical",
    columns={c: c for c in schema.REQUIRED_DISPENSING_COLUMNS},
)


class IngestSettings(Section):
    """How dispensing exports are read: column mappings and the bounds a row must be within."""

    mappings: list[ColumnMapping] = Field(default_factory=list)
    max_abs_quantity_units: float = Field(
        100_000.0, gt=0, description="Rows beyond this absolute quantity are rejected as implausible."
    )
    earliest_date: date = Field(date(1990, 1, 1), description="Rows dated before this are rejected.")

    def all_mappings(self) -> list[ColumnMapping]:
        """Configured mappings, then the canonical one (always available)."""
        names = {m.name for m in self.mappings}
        return [*self.mappings, *([] if "canonical" in names else [CANONICAL_MAPPING])]


class CensorSettings(Section):
    """How periods without real demand (stockouts, closures) are found and filled in."""

    heuristic: bool = Field(True, description="Flag zero runs in steady series as stockouts when no log says so.")
    min_zero_run: int = Field(2, ge=1, description="Zero periods in a row before the heuristic flags them.")
    min_nonzero_share: float = Field(0.9, gt=0, le=1, description="How steady the surrounding half years must be.")
    fill_window: int = Field(4, ge=1, description="Observed periods on each side whose mean fills a censored one.")


class SignalLink(Section):
    """An external weekly signal and the drugs it drives (by ATC prefix in the catalog, or by id)."""

    name: str
    value_column: str = "% WEIGHTED ILI"
    atc_prefixes: list[str] = Field(default_factory=list)
    drug_ids: list[str] = Field(default_factory=list)
    publication_lag_days: int = Field(
        6, ge=0, le=365, description="Days after a signal week ends (Saturday) before a run may use it: FluView "
        "publishes on the Friday after, 6 days; a Sunday run then has the week that ended 8 days before.")


#: The models a candidate list may name: ``turnover.models.REGISTRY`` and the global model (a test keeps the two
#: equal; the registry itself is not imported here, it brings the whole forecasting stack).
MODEL_NAMES = ("dynamic_harmonic", "harmonic_trend", "holt_winters", "exp_smoothing", "damped_trend",
               "empirical_bootstrap", "seasonal_naive", "moving_average", "croston_sba", "tsb", "no_history", "global_gbm")


def _closest(name: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


#: Forecast periods ahead when ``forecast.horizon`` is unset: a quarter of weeks, a year of months.
DEFAULT_HORIZON = {"week": 13, "month": 12}
DAYS_PER_PERIOD = {"week": 7.0, "month": 365.25 / 12}


#: Forecast settings whose default depends on the run's period (weekly defaults were chosen on the demo and the
#: real pharmacy's weekly sales; monthly ones on the PBS, NHS and hospital panels: benchmarks/panels.py).
PERIOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "week": {
        "recent_window_periods": 26,
        "candidates_seasonal": ["dynamic_harmonic", "seasonal_naive", "global_gbm"],
        "candidates_smooth": ["dynamic_harmonic", "exp_smoothing", "seasonal_naive", "moving_average", "global_gbm"],
        "candidates_intermittent": ["tsb", "croston_sba", "empirical_bootstrap", "moving_average"],
    },
    "month": {
        "recent_window_periods": 12,
        "candidates_seasonal": ["dynamic_harmonic", "seasonal_naive", "damped_trend", "global_gbm"],
        "candidates_smooth": ["damped_trend", "exp_smoothing", "dynamic_harmonic", "moving_average", "global_gbm"],
        "candidates_intermittent": ["tsb", "croston_sba", "empirical_bootstrap", "moving_average"],
    },
}


class ForecastSettings(Section):
    period: Period = "week"
    horizon: int | None = Field(
        None, ge=1, le=104, description="Periods ahead in the run's bucket (weeks, or months in a monthly run) that the "
        "forecast CSV and the par calendar cover; unset: 13 weeks or 12 months.")
    horizon_weeks: int | None = Field(
        None, ge=1, le=104, description="Before forecast.horizon: the horizon in weeks (a monthly run covers the same "
        "span in months). Still read when forecast.horizon is unset.")
    n_paths: int = Field(1000, ge=100, le=100_000, description="Simulated sample paths per series.")
    seed: int = Field(20261129, ge=0, lt=2**63, description="Seeds the simulation (numpy takes non-negative seeds).")
    min_seasons: float = Field(2.0, ge=1.0, description="Full seasons of history before a seasonal model.")
    min_history_periods: int = Field(8, ge=2, description="Periods before a smoothing model; fewer: bootstrap.")
    intermittent_nonzero_share: float = Field(
        0.5, gt=0, le=1, description="Below this share of non-zero periods in the last year a series is intermittent."
    )
    recent_window_periods: int | None = Field(
        None, ge=4, description="Window the bootstrap resamples, and without use in it a series is dead; unset: 26 "
        "weeks, or 12 months.")
    backtest_cutoffs: int = Field(6, ge=1, le=52, description="Rolling-origin folds per series.")
    backtest_step_weeks: int = Field(
        8, ge=1, description="Weeks between folds; 6 folds 8 weeks apart score a whole year, flu season included."
    )
    backtest_paths: int = Field(200, ge=50, le=100_000, description="Simulated paths per backtest fold.")
    selection_metric: Literal["mase", "scaled_pinball"] = "mase"
    selection_tolerance: float = Field(
        0.05, ge=0, description="Keep the preferred (earlier) candidate unless another scores this much better."
    )
    calibration_horizon_periods: int = Field(4, ge=1, description="Periods after each cutoff whose PITs calibrate.")
    seasonal_strength_threshold: float = Field(
        0.3, ge=0, le=1, description="Series at least this seasonal are backtested among the seasonal models only."
    )
    candidates_seasonal: list[str] | None = Field(
        None, description="Models backtested for a strongly seasonal series, in preference order; unset: the "
        "period's defaults (PERIOD_DEFAULTS).")
    candidates_smooth: list[str] | None = Field(
        None, description="... for a smooth or erratic series; unset: the period's defaults.")
    candidates_intermittent: list[str] | None = Field(
        None, description="... for an intermittent or lumpy series; unset: the period's defaults.")
    max_days_after_last_dispensing: int = Field(
        13, ge=0, le=366, description="An --as-of at most this many days after the last dispensing day loaded is run "
        "(a Monday run for the week that ended on Sunday); later is refused as a likely typo.",
    )
    reselect_every_days: int = Field(
        28, ge=0, le=366,
        description="A run reselects every series' model (backtests, recalibration) when the stored selection is "
        "this old or older; runs in between refit the stored models on the new data (0: reselect every run).",
    )
    censor: CensorSettings = Field(default_factory=CensorSettings)

    def horizon_periods(self) -> int:
        """Forecast periods ahead: ``horizon``, else the older ``horizon_weeks`` in this bucket, else the default."""
        if self.horizon is not None:
            return self.horizon
        if self.horizon_weeks is not None:
            return self.horizon_weeks if self.period == "week" else math.ceil(
                self.horizon_weeks * 7 / DAYS_PER_PERIOD["month"])
        return DEFAULT_HORIZON[self.period]

    def horizon_days(self) -> int:
        """The horizon's span in days (whole periods of average length, rounded up)."""
        return math.ceil(self.horizon_periods() * DAYS_PER_PERIOD[self.period])

    @model_validator(mode="after")
    def _period_defaults(self) -> ForecastSettings:
        """What is left unset takes the run's period's default: monthly series are short (30 .. 200 points), trend
        more than weekly ones do, and a month is not a week."""
        for name, value in PERIOD_DEFAULTS[self.period].items():
            if getattr(self, name) is None:
                setattr(self, name, list(value) if isinstance(value, list) else value)
        return self

    @field_validator("candidates_seasonal", "candidates_smooth", "candidates_intermittent")
    @classmethod
    def _known_models(cls, names: list[str] | None) -> list[str] | None:
        for name in names or []:
            if name not in MODEL_NAMES:
                raise ValueError(f"unknown model {name!r}{_closest(name, MODEL_NAMES)}; models: {', '.join(MODEL_NAMES)}")
        return names

    signals: list[SignalLink] = Field(
        default_factory=lambda: [SignalLink(name="ilinet", atc_prefixes=["J05AH"])],
        description="Signals loaded with --signal NAME=PATH, and the drugs each one drives (weekly runs).",
    )


ABC_CLASSES = ("A", "B", "C")


def _default_service_levels() -> dict[str, dict[str, float]]:
    return {
        "vital": {"A": 0.99, "B": 0.99, "C": 0.99},
        "essential": {"A": 0.97, "B": 0.95, "C": 0.95},
        "non-essential": {"A": 0.95, "B": 0.92, "C": 0.90},
    }


class ShortageSettings(Section):
    """How a drug in a current FDA shortage is planned."""

    statuses: list[str] = Field(
        default_factory=lambda: ["Current"], description="openFDA shortage statuses that flag a drug."
    )
    extra_lead_time_days: int = Field(7, ge=0, le=180, description="Added to the lead time of a drug in shortage.")
    service_level: float = Field(0.99, gt=0.5, lt=1.0, description="A drug in shortage is planned at least at this level.")


class PolicySettings(Section):
    service_level: float | None = Field(
        None, gt=0.5, lt=1.0,
        description="One cycle service level for every drug (a what-if); unset: the ABC x criticality table.",
    )
    service_levels: dict[Criticality, dict[Literal["A", "B", "C"], float]] = Field(
        default_factory=_default_service_levels,
        description="Cycle service level by criticality (vital / essential / non-essential) and ABC class.",
    )
    abc_shares: tuple[float, float] = Field(
        (0.70, 0.90), description="Cumulative spend shares closing classes A and B (C is the rest)."
    )
    fill_rate_target: float | None = Field(
        None, gt=0.5, lt=1.0, description="A location's fill rate to meet (its drugs together): each drug's service "
        "level is then chosen to meet it at the least stock value (turnover.allocation), within the floors; unset: "
        "the ABC x criticality table.")
    fill_rate_weight: Literal["units", "value"] = Field(
        "units", description="The fill rate of units asked for, or of their value (fill_rate_target).")
    service_level_floors: dict[Criticality, float] = Field(
        default_factory=lambda: {"vital": 0.95, "essential": 0.75, "non-essential": 0.5},
        description="Under a fill_rate_target, the lowest cycle service level a drug of each criticality may get "
        "(a drug in shortage: at least shortage.service_level).")
    usage_window_days: int = Field(365, ge=28, description="Days of dispensing behind annual usage, spend and ABC.")
    review_period_days: int = Field(7, ge=1, le=90)
    default_lead_time_days: int = Field(2, ge=0, le=365)
    default_pack_size_units: float = Field(1.0, gt=0)
    default_criticality: Criticality = "essential"
    vital_min_packs: int = Field(1, ge=0, description="Packs a vital drug keeps on the shelf however slowly it moves.")
    par_calendar_weeks: int | None = Field(
        None, ge=1, le=104, description="Weeks ahead in par_calendar_<date>.csv of a weekly run; unset: the forecast "
        "horizon (a monthly run's calendar has one column per month of the horizon).")
    slow_mover_turns: float = Field(4.0, ge=0, description="Projected turns a year below which a drug is a slow mover.")
    overstock_days: float = Field(
        120.0, gt=0, description="Usable stock covering more days of forecast use than this (and above par) is overstock."
    )
    shortage: ShortageSettings = Field(default_factory=ShortageSettings)
    seasonal_change_threshold: float = Field(
        0.2, gt=0, description="Relative change of next vs last 4 periods that the reason calls a rise/fall."
    )
    transfer_days: int = Field(
        2, ge=0, le=60, description="Days a transfer between locations takes to arrive: stock that would expire "
        "unused at one location goes to another only for its use after this many days (transfers_<date>.csv).")
    peak_cap_multiple: float = Field(
        2.5, ge=0, le=100, description="A par (reorder point) is at most this many times the most demand ever seen "
        "over L + R (L) days, unless a reason backs more: the drug's signal above any earlier season, or a trend "
        "(expected demand already above that peak); 0: no limit (turnover.peak).")

    @model_validator(mode="after")
    def _check_tiers(self) -> PolicySettings:
        for criticality in ("vital", "essential", "non-essential"):
            row = self.service_levels.get(criticality, {})  # type: ignore[call-overload]
            missing = [c for c in ABC_CLASSES if c not in row]
            if missing:
                raise ValueError(f"policy.service_levels.{criticality} lacks {missing}")
            bad = {c: v for c, v in row.items() if not 0.5 < v < 1.0}
            if bad:
                raise ValueError(f"policy.service_levels.{criticality}: levels must be in (0.5, 1): {bad}")
        a, b = self.abc_shares
        if not 0 < a < b <= 1:
            raise ValueError(f"policy.abc_shares must be 0 < A < B <= 1, got {self.abc_shares}")
        return self


class ExecutionSettings(Section):
    """Where the per-series work runs: in this process (default) or on a Dask cluster through Prefect."""

    dask_address: str | None = Field(
        None, description="Address of an existing Dask scheduler (tcp://host:8786): batches of series run there."
    )
    dask_workers: int = Field(
        0, ge=0, le=256, description="Without an address: start a local Dask cluster with this many worker processes "
        "(0: no cluster, the batches run in the flow's process)."
    )
    threads: int = Field(
        0, ge=0, le=256, description="Without Dask: batches run in this many threads of the flow's process (0: one per "
        "core).")
    dask_timeout_seconds: float = Field(
        20.0, gt=0, le=600, description="How long to wait for the scheduler at dask_address to answer before the run "
        "stops with an error (an address that is not a Dask scheduler would otherwise hang the run).")
    batch_series: int = Field(
        1000, ge=1, le=100_000,
        description="Series per batch (one task per batch; series within a batch are fitted together).")
    duckdb_memory_limit: str = Field(
        "2GB", pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$",
        description="Memory DuckDB may use for the warehouse's queries (e.g. 2GB, 1500MB); beyond it, it spills to "
        "disk beside the warehouse (<warehouse>.tmp) instead of growing the run's memory.")
    duckdb_threads: int = Field(
        0, ge=0, le=256, description="Threads DuckDB uses for the warehouse's queries (0: one per core).")

    @property
    def uses_dask(self) -> bool:
        return bool(self.dask_address) or self.dask_workers > 0


class RetentionSettings(Section):
    """What the warehouse keeps of earlier runs (``turnover.retention``); the dispensing history is always kept."""

    detail_days: int = Field(
        28, ge=0, le=36_500, description="Runs with an as-of older than this lose their per-series tables (par levels, "
        "calendar, lots, classes ...) and their forecast of periods scored already; their record in marts.runs stays "
        "(0: keep every run's).")
    scores_days: int = Field(
        91, ge=0, le=36_500, description="Forecast-vs-actual scores of periods older than this are compacted into "
        "marts.accuracy_summary (sums and counts per run, model, class and horizon; 0: keep every row).")


class TrackingSettings(Section):
    """Forecast-vs-actual tracking: how recent errors are compared with the backtest's."""

    drift_window_periods: int = Field(8, ge=1, le=104, description="Latest scored periods a drift flag looks at.")
    drift_min_periods: int = Field(4, ge=1, description="Scored periods a series needs before it can be flagged.")
    drift_ratio: float = Field(
        1.5, gt=1.0, description="Flag a drug whose recent MASE exceeds this multiple of its backtest MASE."
    )
    drift_min_mase: float = Field(
        1.0, ge=0, description="...and whose recent MASE is at least this (no flag while it beats the naive forecast)."
    )


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
        raise SettingsError(f"unknown setting {dotted}{_closest(dotted, known)} in {where or 'the settings'}"
                            ) from None
