"""The settings sections of reading exports: column mappings, row bounds, censoring, external signals; the
base every section is built on (an unknown key is refused)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from turnover import schema

Period = Literal["week", "month"]


Criticality = Literal["vital", "essential", "non-essential"]


# Formats tried, in order, after a plain ISO cast fails. Ambiguous day/month orders are a
# per-export decision, so a mapping lists its own formats first.
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d"]


class Section(BaseModel):
    """A settings section: a key it does not know is refused, not ignored (a typo would silently do nothing)."""

    model_config = ConfigDict(extra="forbid")


def closest_hint(name: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


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
