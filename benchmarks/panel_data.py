"""The four real panels of ``benchmarks/panels.py``, each as a wide table of periods and as dispensing rows.

Read from ``../shared/datasets/`` (never copied into the repository; see each folder's SOURCE.md); a
panel whose file is absent is None. Each panel has the same series twice: ``values`` (periods x series,
zero-filled from a series' first row, NaN before it; what every method is scored on and what
statsforecast is fitted on) and ``rows`` (canonical dispensing rows, ``docs/input.md``; what our engine
loads): weekly data as its daily rows, a monthly total as one row dated the first of its month. Gaps
in the monthly files are left as gaps: the engine zero-fills them as ``values`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from accuracy import REAL_COLUMNS, REAL_CSV, monday

DATASETS = REAL_CSV.parents[1]
PBS_CSV = DATASETS / "pbs_australia" / "PBS_tidy_monthly_by_ATC2_to_2005-05.csv"
NHS_CSV = DATASETS / "nhs_antidepressants" / "BSA_ODP_PCA_REGIONAL_DRUG_SUMMARY_to_2023-06.csv"
HOSPITAL_CSV = DATASETS / "hospital_products" / "hospital_products_dev.csv"
KEYS = ["location_id", "drug_id"]


@dataclass
class Panel:
    """Series on one calendar of period starts (``values``: NaN before a series' first period)."""

    name: str
    label: str
    period: str  # "week" | "month"
    horizon: int  # periods
    keys: pd.DataFrame  # location_id, drug_id
    starts: pd.DatetimeIndex
    values: np.ndarray  # (n_periods, n_series)
    rows: pd.DataFrame  # dispensed_at, location_id, drug_id, quantity
    max_abs_quantity: float | None = None  # [ingest] bound the panel needs, if above the default

    @property
    def season(self) -> int:
        return 52 if self.period == "week" else 12

    def history(self, j: int, end: int) -> np.ndarray:
        y = self.values[:end, j]
        return y[~np.isnan(y)]

    def as_of(self, c: int) -> date:
        """The as-of date whose first forecast period is period ``c``: the last day of period ``c - 1``."""
        return (self.starts[c] - pd.Timedelta(days=1)).date()

    def take(self, n: int | None) -> Panel:
        """``n`` series evenly spaced over the sorted keys (every series when ``n`` is None or too large)."""
        if n is None or n >= len(self.keys):
            return self
        cols = np.unique(np.linspace(0, len(self.keys) - 1, n).round().astype(int))
        keys = self.keys.iloc[cols].reset_index(drop=True)
        rows = self.rows.merge(keys, on=KEYS)
        return replace(self, keys=keys, values=self.values[:, cols], rows=rows)


def _monthly(name: str, label: str, horizon: int, long: pd.DataFrame, max_abs: float | None) -> Panel:
    """A monthly panel from ``month`` (first day), location_id, drug_id, quantity rows (gaps allowed)."""
    long = long.groupby(["month", *KEYS], as_index=False)["quantity"].sum()
    wide = long.pivot_table(index="month", columns=KEYS, values="quantity", aggfunc="sum").sort_index(axis=1)
    months = pd.date_range(wide.index.min(), wide.index.max(), freq="MS")
    wide = wide.reindex(months)
    wide = wide.fillna(0).where(wide.notna().cummax())
    keys = pd.DataFrame(list(wide.columns), columns=KEYS)
    rows = long.rename(columns={"month": "dispensed_at"})[["dispensed_at", *KEYS, "quantity"]]
    return Panel(name, label, "month", horizon, keys, months, wide.to_numpy(dtype=float), rows, max_abs)


def load_pharma() -> Panel | None:
    """One pharmacy's 8 ATC groups, weekly (complete ISO weeks only); its rows are the daily sales."""
    if not REAL_CSV.exists():
        return None
    daily = pd.read_csv(REAL_CSV, usecols=["datum", *REAL_COLUMNS])
    daily["day"] = pd.to_datetime(daily["datum"], format="%m/%d/%Y")
    first_monday = daily["day"].min() + pd.Timedelta(days=(7 - daily["day"].min().weekday()) % 7)
    last_sunday = daily["day"].max() - pd.Timedelta(days=(daily["day"].max().weekday() + 1) % 7)
    daily = daily[(daily["day"] >= first_monday) & (daily["day"] <= last_sunday)]
    weekly = daily.groupby(monday(daily["day"]))[REAL_COLUMNS].sum()
    keys = pd.DataFrame({"location_id": "PHARMACY-1", "drug_id": REAL_COLUMNS})
    rows = daily.melt(id_vars="day", value_vars=REAL_COLUMNS, var_name="drug_id", value_name="quantity")
    rows = rows.assign(location_id="PHARMACY-1").rename(columns={"day": "dispensed_at"})[["dispensed_at", *KEYS, "quantity"]]
    return Panel("pharma", "pharma_sales: one pharmacy x 8 ATC groups (weekly)", "week", 13, keys,
                 pd.DatetimeIndex(weekly.index), weekly.to_numpy(dtype=float), rows)


def load_pbs() -> Panel | None:
    """Australian PBS scripts per month: location = Concession/Type, drug = ATC2."""
    if not PBS_CSV.exists():
        return None
    pbs = pd.read_csv(PBS_CSV, usecols=["Month", "Concession", "Type", "ATC2", "Scripts"])
    long = pd.DataFrame({"month": pd.to_datetime(pbs["Month"], format="%Y-%m"),
                         "location_id": pbs["Concession"] + "/" + pbs["Type"], "drug_id": pbs["ATC2"],
                         "quantity": pbs["Scripts"].astype(float)})
    return _monthly("pbs", "PBS Australia: scripts, Concession/Type x ATC2 (monthly)", 12, long, 1e9)


def load_nhs() -> Panel | None:
    """NHS England antidepressant items per month: location = region, drug = chemical substance."""
    if not NHS_CSV.exists():
        return None
    nhs = pd.read_csv(NHS_CSV, usecols=["YEAR_MONTH", "REGION_NAME", "BNF_CHEMICAL_SUBSTANCE", "ITEMS"])
    long = pd.DataFrame({"month": pd.to_datetime(nhs["YEAR_MONTH"].astype(str), format="%Y%m"),
                         "location_id": nhs["REGION_NAME"], "drug_id": nhs["BNF_CHEMICAL_SUBSTANCE"],
                         "quantity": nhs["ITEMS"].astype(float)})
    return _monthly("nhs", "NHS England antidepressants: items, region x substance (monthly, no season)", 6, long, 1e9)


def load_hospital() -> Panel | None:
    """Hospital product patient counts per month: location = entity, drug = product."""
    if not HOSPITAL_CSV.exists():
        return None
    hospital = pd.read_csv(HOSPITAL_CSV, dtype={"location_id": str, "drug_id": str})
    long = hospital.rename(columns={"count": "quantity"}).assign(month=pd.to_datetime(hospital["month"]))
    return _monthly("hospital", "hospital products: patients, entity x product (monthly)", 12,
                    long[["month", *KEYS, "quantity"]].astype({"quantity": float}), None)


LOADERS = {"pharma": load_pharma, "pbs": load_pbs, "nhs": load_nhs, "hospital": load_hospital}


def write_history(panel: Panel, path: Path, changed: tuple[date, float] | None = None) -> Path:
    """The panel's dispensing rows as a canonical CSV; ``changed`` (day, factor) scales the rows dated on or
    after that day (the look-ahead test: nothing after an as-of date may move that origin's forecast)."""
    rows = panel.rows
    if changed is not None:
        later = rows["dispensed_at"] >= pd.Timestamp(changed[0])
        rows = rows.assign(quantity=np.where(later, rows["quantity"] * changed[1], rows["quantity"]))
    rows.assign(dispensed_at=rows["dispensed_at"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def origins(panel: Panel, n_origins: int) -> list[int]:
    """Cutoffs (periods of history on the calendar) one horizon apart, the latest leaving one horizon to score."""
    n = len(panel.starts)
    cuts = [n - panel.horizon * k for k in range(n_origins, 0, -1)]
    if cuts[0] < 2:
        raise ValueError(f"{panel.name}: {n_origins} origins x {panel.horizon} periods leave no history")
    return cuts
