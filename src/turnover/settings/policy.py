"""``[policy]`` and ``[policy.shortage]``: service tiers or a fill-rate target, lead and review times, packs, expiry
and the par's limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from turnover.settings.sections import (
    Criticality,
    Section,
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
        "level is then chosen to meet it at the least stock value (turnover.inventory.allocation), within the floors; unset: "
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
        "(expected demand already above that peak); 0: no limit (turnover.inventory.peak_cap).")

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
