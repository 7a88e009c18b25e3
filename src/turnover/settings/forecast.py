"""``[forecast]``: the run's period and horizon, the models a series tries, backtests and simulation."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from turnover.settings.sections import (
    CensorSettings,
    Period,
    Section,
    SignalLink,
    closest_hint,
)

#: The models a candidate list may name: ``turnover.forecasting.models.REGISTRY`` and the global model (a test keeps the two
#: equal; the registry itself is not imported here, it brings the whole forecasting stack).
MODEL_NAMES = ("dynamic_harmonic", "harmonic_trend", "holt_winters", "exp_smoothing", "damped_trend",
               "empirical_bootstrap", "seasonal_naive", "moving_average", "croston_sba", "tsb", "no_history", "global_gbm")


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
                raise ValueError(f"unknown model {name!r}{closest_hint(name, MODEL_NAMES)}; models: {', '.join(MODEL_NAMES)}")
        return names

    signals: list[SignalLink] = Field(
        default_factory=lambda: [SignalLink(name="ilinet", atc_prefixes=["J05AH"])],
        description="Signals loaded with --signal NAME=PATH, and the drugs each one drives (weekly runs).",
    )
