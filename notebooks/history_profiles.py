# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Dispensing history and seasonal profiles
#
# How demand has moved over the past years: for one drug across the locations, for each
# demand class, and location by location.
#
# Choose with environment variables before starting Jupyter (`make notebooks`, see docs/notebooks.md):
#
# - `TURNOVER_DB`: the warehouse file (default: `warehouse_path` in the repository's `turnover.toml`);
#   a relative path is read from the repository root, whatever folder the notebook runs in;
# - `TURNOVER_RUN`: a run id or its first characters (default: the latest completed run);
# - `TURNOVER_DRUG`: a drug id for the first plot (default: Oseltamivir, else the most seasonal drug).
#
# Demand is the weekly series the forecast reads (`staging.demand_series`): units dispensed per ISO
# week, returns netted, and weeks with stockout or closure days scaled up to a full week of demand
# (a week with no open, in-stock day is a gap). Only weeks up to the run's as-of date are shown.
# The warehouse is opened **read-only**, so this notebook never blocks or alters a run.

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd

from turnover.io.notebook import chosen_run, warehouse_path
from turnover.io.warehouse import connect

HISTORY_WEEKS = 156  # three years: whole seasons, so no month counts twice in the profiles
SEASONAL_STRENGTH_THRESHOLD = 0.3  # as turnover.toml: at least this seasonal is "seasonal"

con = connect(warehouse_path(), read_only=True)
run_id, as_of, period, _ = chosen_run(con)
print(f"run {run_id} (as of {as_of}, {period}ly)")

# %%
weekly_demand = con.execute(
    """
    select d.location_id, d.drug_id, coalesce(c.drug_name, d.drug_id) as drug_name, d.period_start,
           d.units as units_per_week, k.demand_class, k.seasonality_strength
    from staging.demand_series d
    left join ref.catalog c using (drug_id)
    left join marts.demand_class k on k.run_id = $run and k.location_id = d.location_id and k.drug_id = d.drug_id
    where d.period_start <= $as_of and d.period_start > $as_of - to_days($days)
    order by d.location_id, d.drug_id, d.period_start
    """,
    {"run": run_id, "as_of": as_of, "days": 7 * HISTORY_WEEKS},
).df()
classes = con.execute(
    "select * exclude (run_id) from marts.demand_class where run_id = ? order by location_id, drug_id", [run_id]
).df()
par_value = con.execute(
    "select location_id, sum(par_level_units * unit_cost) as par_value, median(turns_current) as median_turns_current"
    " from marts.par_levels where run_id = ? group by all",
    [run_id],
).df()
con.close()
weekly_demand["period_start"] = pd.to_datetime(weekly_demand["period_start"])
steps = weekly_demand.groupby(["location_id", "drug_id"])["period_start"].diff().dropna().dt.days.unique()
if period != "week" or set(steps) - {7}:
    raise RuntimeError("this notebook reads weekly demand series: rebuild them with a weekly run first")
print(f"{weekly_demand['period_start'].min():%Y-%m-%d} .. {weekly_demand['period_start'].max():%Y-%m-%d}, "
      f"{weekly_demand.groupby(['location_id', 'drug_id']).ngroups} series")

# %% [markdown]
# ## One drug, every location
#
# Units dispensed per week at each location (thin lines) and their 4-week rolling mean (thick).
# Locations that rise and fall together share a season; one that stays flat while the others
# rise is worth a look (a different patient mix, or stockouts hiding the demand).


# %%
def default_drug(weekly_demand: pd.DataFrame) -> str:
    """Oseltamivir if dispensed, else the drug with the highest mean seasonality strength."""
    names = weekly_demand.drop_duplicates("drug_id").set_index("drug_id")["drug_name"].fillna("")
    oseltamivir = names[names.str.startswith("Oseltamivir")]
    if len(oseltamivir):
        return oseltamivir.index[0]
    return weekly_demand.groupby("drug_id")["seasonality_strength"].mean().idxmax()


drug = os.environ.get("TURNOVER_DRUG") or default_drug(weekly_demand)
one_drug = weekly_demand[weekly_demand["drug_id"] == drug]
if one_drug.empty:
    raise RuntimeError(f"drug {drug} has no demand series in run {run_id}")

fig, ax = plt.subplots(figsize=(13, 4.5))
for i, (location, rows) in enumerate(one_drug.groupby("location_id")):
    color = f"C{i}"
    units = rows.set_index("period_start")["units_per_week"]
    ax.plot(units.index, units, color=color, lw=0.7, alpha=0.5)
    ax.plot(units.index, units.rolling(4, min_periods=1).mean(), color=color, lw=2, label=location)
ax.set(xlabel="week starting", ylabel="units per week", title=f"{one_drug['drug_name'].iloc[0]} ({drug}), as of {as_of}")
ax.legend(title="location (4-week mean)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Demand classes
#
# Each series is classed on its history (Syntetos & Boylan): **ADI** is the average interval
# between weeks with demand (1 = used every week), **CV²** the squared coefficient of variation
# of the non-zero weeks. Smooth: regular and steady; erratic: regular but variable sizes;
# intermittent: gaps, steady sizes; lumpy: gaps and variable sizes. *Seasonality strength* runs
# from 0 (no yearly pattern) to 1 (the year explains all the variation); at 0.3 or more the
# forecast tries seasonal models only.

# %%
class_summary = classes.groupby("demand_class").agg(
    series=("drug_id", "size"),
    median_adi=("adi", "median"),
    median_cv2=("cv2", "median"),
    mean_seasonality_strength=("seasonality_strength", "mean"),
    seasonal_series=("seasonality_strength", lambda s: int((s >= SEASONAL_STRENGTH_THRESHOLD).sum())),
)
class_summary.round(2)

# %% [markdown]
# ## Yearly profile by demand class
#
# Each series' weekly demand is divided by its own mean over the period shown, so a busy drug and
# a slow one weigh the same; the line is the mean of those ratios by calendar month across the
# series of a class. **1.0 is an average month**; 1.3 means demand in that month runs 30 % above
# the series' usual level. A flat line at 1 means no season; only series with two years of
# history are used.


# %%
def demand_index(weekly_demand: pd.DataFrame, min_weeks: int = 104) -> pd.DataFrame:
    """Weekly rows with ``demand_index`` = units / the series' mean units per week (series with
    at least ``min_weeks`` weeks and some demand), and the ISO week and month of each row."""
    grouped = weekly_demand.groupby(["location_id", "drug_id"])["units_per_week"]
    mean_units = grouped.transform("mean")
    weeks = grouped.transform("size")
    out = weekly_demand[(weeks >= min_weeks) & (mean_units > 0)].copy()
    out["demand_index"] = out["units_per_week"] / mean_units[out.index]
    out["iso_week"] = out["period_start"].dt.isocalendar().week.astype(int).clip(upper=52)  # week 53 joins 52
    out["month"] = out["period_start"].dt.month
    return out


def seasonal_profile(indexed: pd.DataFrame, by: str, bucket: str) -> pd.DataFrame:
    """Mean demand index per ``bucket`` (``month`` or ``iso_week``), one column per ``by`` value:
    each series' own mean per bucket first, then the mean across series."""
    per_series = indexed.groupby([by, "location_id", "drug_id", bucket])["demand_index"].mean()
    return per_series.groupby([by, bucket]).mean().unstack(by)


indexed = demand_index(weekly_demand)
profile_by_class = seasonal_profile(indexed, "demand_class", "month")
counts = indexed.drop_duplicates(["location_id", "drug_id"])["demand_class"].value_counts()

fig, ax = plt.subplots(figsize=(10, 4))
for demand_class in profile_by_class.columns:
    ax.plot(profile_by_class.index, profile_by_class[demand_class], marker="o",
            label=f"{demand_class} ({counts.get(demand_class, 0)} series)")
ax.axhline(1, color="grey", lw=0.8, ls=":")
ax.set_xticks(range(1, 13), ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
ax.set(xlabel="month", ylabel="demand / series mean", title="Yearly profile by demand class")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The most seasonal drugs, week by week
#
# The same index by ISO week for the drugs with the highest seasonality strength (mean over their
# locations), pooled across locations and smoothed over three weeks. The peak tells when stock must
# be built up: par levels follow the forecast's season, so a peak here should show as a rise in the
# par calendar a lead time earlier.

# %%
TOP_SEASONAL = 4
strength_by_drug = (classes.merge(weekly_demand[["drug_id", "drug_name"]].drop_duplicates(), on="drug_id")
                    .groupby(["drug_id", "drug_name"])["seasonality_strength"].mean()
                    .sort_values(ascending=False))
top_seasonal = strength_by_drug.head(TOP_SEASONAL)
weekly_profile = seasonal_profile(indexed[indexed["drug_id"].isin(top_seasonal.index.get_level_values(0))],
                                  "drug_id", "iso_week")
smoothed = pd.concat([weekly_profile.iloc[-1:], weekly_profile, weekly_profile.iloc[:1]]).rolling(3, center=True).mean()
smoothed = smoothed.iloc[1:-1]  # the year wraps: week 52 and week 1 are neighbours

fig, ax = plt.subplots(figsize=(11, 4))
for (drug_id, name), strength in top_seasonal.items():
    if drug_id in smoothed:
        ax.plot(smoothed.index, smoothed[drug_id], lw=2, label=f"{name} (strength {strength:.2f})")
ax.axhline(1, color="grey", lw=0.8, ls=":")
ax.set(xlabel="ISO week", ylabel="demand / series mean", title="Weekly profile of the most seasonal drugs", xlim=(1, 52))
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Locations side by side
#
# Per location over the last 52 weeks: series planned, mean units per week across all drugs, the
# busiest and quietest month (share of the mean), series per demand class, how seasonal its
# series are, and the value of stock at par (par level x unit cost, in catalog currency) with the
# median current turns a year. A location whose peak month differs from the others, or with many
# more lumpy series, plans differently.


# %%
def location_table(weekly_demand: pd.DataFrame, classes: pd.DataFrame, par_value: pd.DataFrame) -> pd.DataFrame:
    """One row per location: volume, seasonality of its total, class mix and stock at par."""
    last_year = weekly_demand[weekly_demand["period_start"] > weekly_demand["period_start"].max() - pd.Timedelta(weeks=52)]
    total = last_year.groupby(["location_id", "period_start"])["units_per_week"].sum().reset_index()
    by_month = total.groupby(["location_id", total["period_start"].dt.month])["units_per_week"].mean().unstack()
    share = by_month.div(by_month.mean(axis=1), axis=0)
    months = pd.Series(pd.date_range("2000-01-01", periods=12, freq="MS").strftime("%b"), index=range(1, 13))
    out = pd.DataFrame({
        "series": classes.groupby("location_id").size(),
        "units_per_week": total.groupby("location_id")["units_per_week"].mean(),
        "peak_month": share.idxmax(axis=1).map(months) + " " + share.max(axis=1).map("{:.0%}".format),
        "low_month": share.idxmin(axis=1).map(months) + " " + share.min(axis=1).map("{:.0%}".format),
        "mean_seasonality_strength": classes.groupby("location_id")["seasonality_strength"].mean(),
        "seasonal_series": classes.assign(s=classes["seasonality_strength"] >= SEASONAL_STRENGTH_THRESHOLD)
        .groupby("location_id")["s"].sum(),
    })
    mix = classes.pivot_table(index="location_id", columns="demand_class", values="drug_id", aggfunc="size", fill_value=0)
    return out.join(mix).join(par_value.set_index("location_id"))


location_table(weekly_demand, classes, par_value).round(2)
