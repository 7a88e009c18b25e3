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
# # Par-level what-if: service level, lead time, review period
#
# What would the par levels, and the money tied up in stock, be at another service level, with a
# longer lead time, or with orders placed more or less often? The forecast of the chosen run is
# recomputed here, in memory, for each scenario; nothing is written to the warehouse.
#
# Choose with environment variables before starting Jupyter (`make notebooks`, see docs/notebooks.md):
#
# - `TURNOVER_DB`: the warehouse file (default: `warehouse_path` in the repository's `turnover.toml`);
#   a relative path is read from the repository root, whatever folder the notebook runs in;
# - `TURNOVER_RUN`: a run id or its first characters (default: the latest completed run);
# - `TURNOVER_LOCATION`: the location whose drugs are shown one by one (default: the first);
#   the totals cover every location.
#
# **Reading the numbers.** The *par level* (order-up-to level) is the service-level quantile of
# demand over lead time + review period; the *reorder point* the same over the lead time alone.
# The stock a policy holds on average is its *safety stock* (par minus the mean demand over lead
# time + review period) plus *half a review period's* demand (the cycle stock, used up between two
# deliveries): its value is those units times the catalog unit cost. Floors apply as in the run
# (catalog minimum, one pack of a vital drug); orders are not rounded to packs here.

# %%
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from turnover import pipeline
from turnover.calendar import last_history_start
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel
from turnover.inventory.policy import pars_from_quantiles, vital_floor_units
from turnover.io import demand as demand_io
from turnover.io.notebook import chosen_run, warehouse_path
from turnover.io.warehouse import open_warehouse
from turnover.panel import DemandPanel
from turnover.settings import Settings

SERVICE_LEVELS = (0.90, 0.95, 0.97, 0.98, 0.99, 0.995)
LEAD_TIMES_DAYS = (1, 2, 4, 7)
REVIEW_PERIODS_DAYS = (3, 7, 14)
SAMPLE_SIZE = 10

db_path = warehouse_path()


with open_warehouse(db_path, read_only=True) as con:
    run_id, as_of, period, settings_json = chosen_run(con)
    # The run's own settings (models, folds, seed): the same inputs give the run's numbers.
    settings = Settings.model_validate(json.loads(settings_json))
    run_pars = con.execute(
        """
        select p.location_id, p.drug_id, p.drug_name, p.model, p.demand_class, p.lifecycle, p.seasonality_strength,
               p.criticality, p.service_level, p.lead_time_days, p.pack_size_units, p.unit_cost,
               p.annual_usage_units, p.par_level_units as run_par_level_units, coalesce(c.min_par_units, 0) as min_par_units
        from marts.par_levels p left join ref.catalog c using (drug_id)
        where p.run_id = ? order by p.location_id, p.drug_id
        """,
        [run_id],
    ).df()
    signals = pipeline.signals_by_drug(con, settings)
print(f"run {run_id} (as of {as_of}, {period}ly): {len(run_pars)} series")

# %% [markdown]
# ## Inputs
#
# The weekly demand series as the run saw them. They are read from the warehouse as they stand when
# they were last built for this run's date; otherwise they are rebuilt on a temporary copy of the
# warehouse file (the warehouse itself is only ever read).


# %%
def read_panel(db_path: str, as_of, settings: Settings) -> DemandPanel:
    """Every series' demand history as of ``as_of`` (``staging.demand_series``), rebuilt on a temporary copy
    of the warehouse when it was last built for another date."""
    with open_warehouse(db_path, read_only=True) as con:
        built_through = con.execute("select max(period_start) from staging.demand_series").fetchone()[0]
        if built_through == last_history_start(as_of, settings.forecast.period):
            return demand_io.read_demand_panel(con)
    with tempfile.TemporaryDirectory() as tmp:
        copy = shutil.copy(db_path, Path(tmp) / "warehouse.duckdb")
        with open_warehouse(copy) as con:
            demand_io.build_demand_series(con, as_of, settings.forecast.period, settings.policy)
            return demand_io.read_demand_panel(con)


full_panel = read_panel(db_path, as_of, settings)
position = {key: i for i, key in enumerate(zip(full_panel.keys["location_id"], full_panel.keys["drug_id"], strict=True))}
run_pars = run_pars[[k in position for k in zip(run_pars["location_id"], run_pars["drug_id"], strict=True)]]
panel = full_panel.take([position[k] for k in zip(run_pars["location_id"], run_pars["drug_id"], strict=True)])
run_pars = run_pars.reset_index(drop=True)  # row i of run_pars is series i of panel
print(f"{len(panel)} series, {len(panel.units)} weeks of history in all")

# %% [markdown]
# ## Choosing the models once
#
# The first pass backtests every candidate model and fits the quantile corrections, as the run did
# (about 15 s on the demo). Every scenario after it reuses those choices and only refits the chosen
# models, a second or so each. Each series' random draws are seeded by its ids, so every scenario
# reads the same simulated demand: differences between scenarios are the policy's, not noise.

# %%
# The quantile correction is fitted for the run's tiers and for every level of the grid, so that the
# scenarios that reuse these choices read corrected levels.
first = forecast_panel(
    panel,
    ProtectionWindow(run_pars["lead_time_days"].to_numpy(), settings.policy.review_period_days,
                     run_pars["service_level"].to_numpy(dtype=float)),
    as_of, settings.forecast, signals, calibrate_levels=tuple(SERVICE_LEVELS),
)
selection = first.selection
same_model = (first.protection["model"].to_numpy() == run_pars["model"].to_numpy()).mean()
print(f"models as chosen by the run: {same_model:.0%} of series")

# %% [markdown]
# ## Scenarios
#
# Each scenario changes one thing against the run: every drug at one service level (instead of
# the run's tiers by criticality x spend), every drug at one lead time, or one review period for
# all. The run's own tiers, lead times and weekly review are the baseline.


# %%
def scenario(name: str, value: float, lead_time_days, review_period_days: int, service_level) -> pd.DataFrame:
    """Per series: reorder point, par, safety and average stock (units and value) under one policy."""
    window = ProtectionWindow(np.broadcast_to(np.asarray(lead_time_days), (len(panel),)), review_period_days,
                              service_level)
    result = forecast_panel(panel, window, as_of, settings.forecast, signals, selection).protection
    floor = vital_floor_units(run_pars["criticality"], run_pars["pack_size_units"].to_numpy(dtype=float), settings.policy)
    reorder_point, _, par = pars_from_quantiles(result["lead_time_demand_units"], result["protection_demand_units"],
                                                run_pars["lifecycle"] == "dead", run_pars["min_par_units"], floor)
    cycle_units = result["protection_demand_mean"] - result["lead_time_demand_mean"]  # mean demand over the review
    safety_units = np.maximum(par - result["protection_demand_mean"], 0.0)
    average_units = safety_units + cycle_units / 2
    return run_pars[["location_id", "drug_id", "drug_name"]].assign(
        scenario=name, value=value, reorder_point_units=reorder_point, par_level_units=par,
        safety_stock_units=safety_units, average_stock_units=average_units,
        average_stock_value=average_units * run_pars["unit_cost"],
    )


review_days = settings.policy.review_period_days
run_lead_days = run_pars["lead_time_days"].to_numpy()
tiers = run_pars["service_level"].to_numpy(dtype=float)
baseline = scenario("run tiers", np.nan, run_lead_days, review_days, tiers)
scenarios = pd.concat([
    baseline,
    *(scenario("service level", level, run_lead_days, review_days, level) for level in SERVICE_LEVELS),
    *(scenario("lead time days", days, days, review_days, tiers) for days in LEAD_TIMES_DAYS),
    *(scenario("review period days", days, run_lead_days, days, tiers) if days != review_days
      else baseline.assign(scenario="review period days", value=days) for days in REVIEW_PERIODS_DAYS),
], ignore_index=True)
gap = (baseline["par_level_units"].to_numpy() - run_pars["run_par_level_units"].to_numpy()) / np.maximum(
    run_pars["run_par_level_units"].to_numpy(), 1)
# The run simulated further ahead (for its par calendar), so its draws differ a little from these.
print(f"par at the run's tiers vs the run's par: {np.mean(gap == 0):.0%} of series identical, "
      f"90th percentile of the gap {np.quantile(np.abs(gap), 0.9):.1%}")

# %% [markdown]
# ## The sample: one location, ten drugs
#
# The drugs with the most spend at the location, plus its most seasonal one (items with no use in
# four months are left out). The table shows what the run decided for them: model, demand class,
# service tier and par level.


# %%
def pick_sample(run_pars: pd.DataFrame, location: str, size: int) -> pd.DataFrame:
    """The ``size`` live series at ``location`` with the most annual spend, its most seasonal one among them."""
    here = run_pars[(run_pars["location_id"] == location) & (run_pars["lifecycle"] != "dead")]
    here = here.assign(annual_spend=here["annual_usage_units"] * here["unit_cost"].fillna(0))
    seasonal = here.nlargest(1, "seasonality_strength")
    top = here.drop(seasonal.index).nlargest(size - len(seasonal), "annual_spend")
    return pd.concat([seasonal, top]).sort_values("annual_spend", ascending=False)


location = os.environ.get("TURNOVER_LOCATION") or run_pars["location_id"].iloc[0]
sample = pick_sample(run_pars, location, SAMPLE_SIZE)
if sample.empty:
    raise RuntimeError(f"no live series at {location} in run {run_id}")
in_sample = scenarios.merge(sample[["location_id", "drug_id"]], on=["location_id", "drug_id"])
sample[["drug_id", "drug_name", "model", "demand_class", "seasonality_strength", "criticality", "service_level",
        "lead_time_days", "unit_cost", "annual_spend", "run_par_level_units"]].set_index("drug_id").round(2)

# %% [markdown]
# ## Par level and stock value by service level
#
# Par level (units) per drug at each service level, then the average value of stock held. Going
# from 95 % to 99 % means accepting a stockout in one review cycle in a hundred instead of one in
# twenty: the stock needed grows faster the closer the level gets to 100 %. Above 99 % the
# quantile rests on a handful of the 1,000 simulated paths, so the last step is the least precise.
#
# A flat stretch has one of two causes: a floor (a vital drug's one pack, the catalog minimum), or
# a model whose high quantiles were too narrow in the backtests, so that its corrected level
# already reads the 99.9th percentile of the paths (the ceiling) and a higher target adds nothing.

# %%
by_level = in_sample[in_sample["scenario"] == "service level"]
pars_by_level = by_level.pivot_table(index="drug_name", columns="value", values="par_level_units")
value_by_level = by_level.pivot_table(index="drug_name", columns="value", values="average_stock_value")
display(pars_by_level.rename(columns="{:.1%}".format))
value_by_level.rename(columns="{:.1%}".format).round(0)

# %% [markdown]
# ## The cost of each extra point of service
#
# For each step up the grid: the extra value of stock held, divided by the percentage points
# gained. Read it as "every extra point of service between these two levels ties up this much more
# stock", per drug of the sample, for the whole location and for every location together.


# %%
def cost_per_point(frame: pd.DataFrame) -> pd.DataFrame:
    """Extra average stock value per +1 percentage point of service between consecutive levels (columns
    ``from..to``), one row per index row of ``frame`` (columns: service levels, values: stock value)."""
    levels = list(frame.columns)
    steps = {f"{a:.1%}..{b:.1%}": (frame[b] - frame[a]) / ((b - a) * 100) for a, b in itertools.pairwise(levels)}
    return pd.DataFrame(steps)


levels_all = scenarios[scenarios["scenario"] == "service level"]
totals = pd.DataFrame({
    f"location {location}": levels_all[levels_all["location_id"] == location].groupby("value")["average_stock_value"].sum(),
    "all locations": levels_all.groupby("value")["average_stock_value"].sum(),
}).T
marginal = pd.concat([cost_per_point(value_by_level), cost_per_point(totals)])
marginal.round(1)

# %%
run_tier_value = {f"location {location}": baseline.loc[baseline["location_id"] == location, "average_stock_value"].sum(),
                  "all locations": baseline["average_stock_value"].sum()}
fig, (ax_value, ax_step) = plt.subplots(1, 2, figsize=(13, 4.5))
for i, (name, values) in enumerate(totals.iterrows()):
    ax_value.plot(values.index * 100, values, marker="o", color=f"C{i}", label=name)
    ax_value.axhline(run_tier_value[name], color=f"C{i}", ls=":", lw=1)
ax_value.set(xlabel="service level (%), every drug", ylabel="average stock value",
             title="Stock held by service level\n(dotted: the run's tiers)")
ax_value.legend()
steps = cost_per_point(totals)
x = np.arange(len(steps.columns))
for i, (name, values) in enumerate(steps.iterrows()):
    ax_step.bar(x + (i - 0.5) * 0.4, values, 0.4, color=f"C{i}", label=name)
ax_step.set_xticks(x, steps.columns, rotation=20)
ax_step.set(ylabel="extra stock value per +1 point", title="Cost of each extra point of service")
ax_step.legend()
fig.tight_layout()
plt.show()

# %%
fig, ax = plt.subplots(figsize=(11, 4.5))
for name, values in value_by_level.iterrows():
    ax.plot(values.index * 100, values, marker="o", label=name[:32])
ax.set(yscale="log", xlabel="service level (%)", ylabel="average stock value (log)",
       title=f"Stock held per drug at {location}")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Lead time and review period
#
# The same stock value when every drug's supplier took a given number of days to deliver (at the
# run's service tiers), and when orders were placed every few days instead of weekly. A longer lead
# time adds safety stock (more days of uncertain demand to cover); a longer review period adds both
# safety stock and cycle stock (each delivery must last longer).


# %%
def totals_by(name: str) -> pd.DataFrame:
    """Par level (units) and average stock value per scenario value: the location and all locations."""
    rows = scenarios[scenarios["scenario"] == name]
    here = rows[rows["location_id"] == location]
    return pd.DataFrame({
        f"{location} par_level_units": here.groupby("value")["par_level_units"].sum(),
        f"{location} average_stock_value": here.groupby("value")["average_stock_value"].sum(),
        "all locations average_stock_value": rows.groupby("value")["average_stock_value"].sum(),
    }).rename_axis(name)


lead_totals, review_totals = totals_by("lead time days"), totals_by("review period days")
display(lead_totals.round(0), review_totals.round(0))

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, frame in zip(axes, (lead_totals, review_totals), strict=True):
    ax.plot(frame.index, frame[f"{location} average_stock_value"], marker="o", color="C0", label=location)
    ax.plot(frame.index, frame["all locations average_stock_value"], marker="o", color="C1", label="all locations")
    for color, name in (("C0", f"location {location}"), ("C1", "all locations")):
        ax.axhline(run_tier_value[name], color=color, ls=":", lw=1)
    ax.set(xlabel=frame.index.name, ylabel="average stock value", ylim=(0, None))
    ax.legend()
axes[0].set_title("Stock held by lead time\n(run's tiers; dotted: the run as planned)")
axes[1].set_title("Stock held by review period\n(run's tiers; dotted: the run as planned)")
fig.tight_layout()
plt.show()
