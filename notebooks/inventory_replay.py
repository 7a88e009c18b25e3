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
# # Inventory replay: the recommended par levels against today's rules
#
# How would the shelves have looked over the last weeks had each location ordered to the par
# levels `turnover` recommends, instead of a common rule? The replay goes back to a start date and,
# every Monday, forecasts with only the history known then and orders up to that week's par;
# each day it serves the actual dispensing (first expiry first out), lets lots expire and receives
# orders after the lead time. Demand that finds the shelf empty is lost. Three policies run on the
# same days:
#
# - **turnover**: the seasonal forecast's service-level par, capped so a new lot is not bought to expire;
# - **minmax_flat365**: min/max from the flat average and spread of the last 365 days at the same
#   service level (how many pharmacy systems set min/max);
# - **days_of_supply**: par = 30 days of the flat 365-day average.
#
# Choose with environment variables before starting Jupyter (`make notebooks`, see docs/notebooks.md):
#
# - `TURNOVER_DB`: the warehouse file (default: `warehouse_path` in the repository's `turnover.toml`);
#   a relative path is read from the repository root, whatever folder the notebook runs in;
# - `TURNOVER_RUN`: a run id or its first characters (default: the latest completed run); the replay
#   ends on its as-of date;
# - `TURNOVER_REPLAY_WEEKS`: weeks replayed (default 8; each week adds a forecast, a few seconds).
#
# The replay rebuilds the demand tables for its dates, so it runs on a **temporary copy** of the
# warehouse: the warehouse itself is opened read-only and never written.

# %%
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, display

from turnover import pipeline
from turnover.io.notebook import chosen_run, project_config, warehouse_path
from turnover.io.warehouse import open_warehouse
from turnover.settings import load_settings
from turnover.simulation.frontier import FrontierSettings, headline, savings
from turnover.simulation.frontier_chart import frontier_png
from turnover.simulation.replay import ReplaySettings

db_path = warehouse_path()
replay_weeks = int(os.environ.get("TURNOVER_REPLAY_WEEKS", "8"))
config_path = project_config()


with open_warehouse(db_path, read_only=True) as con:
    run_id, as_of, _, _ = chosen_run(con)
    names = con.execute(
        "select location_id, drug_id, drug_name, demand_class, model from marts.par_levels where run_id = ?", [run_id]
    ).df()
end = as_of
start = end - timedelta(weeks=replay_weeks) + timedelta(days=1)
print(f"replaying {start} .. {end} ({replay_weeks} weeks), ending on run {run_id}'s as-of date")

# %% [markdown]
# ## Running the replay
#
# On a copy of the warehouse in a temporary directory, with the committed `turnover.toml`
# settings. The first review backtests and chooses the models (as a weekly run does); later weeks
# refit the chosen models on the history known that week.


# %%
def run_replay(db_path: str, start, end, replay_settings: ReplaySettings, frontier: FrontierSettings | None = None):
    """The replay's result (with ``frontier``: each policy swept over its knob too), computed on a temporary copy
    of the warehouse (deleted afterwards)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy = shutil.copy(db_path, root / "warehouse.duckdb")
        settings = load_settings(config_path, warehouse_path=copy, output_dir=root / "out", demo_dir=root / "demo")
        result, _ = pipeline.replay(settings, start, end, replay_settings, frontier)
    return result


replay_settings = ReplaySettings()
result = run_replay(db_path, start, end, replay_settings, FrontierSettings())
per_series = result.per_series.merge(names, on=["location_id", "drug_id"], how="left")
print(f"{result.weeks} weekly reviews, {len(per_series) // per_series['policy'].nunique()} series per policy")

# %% [markdown]
# ## Totals, side by side
#
# Over every location x drug:
#
# - **fill rate**: share of the units asked for that were on the shelf (units, not prescriptions);
# - **cycle service level**: share of weekly cycles with no unmet demand at all;
# - **average on hand**: mean stock at the end of each day, in units and in value (unit cost);
# - **turns**: value dispensed a year / average value on hand (higher is leaner);
# - **expired**: units (and value) that reached their expiry date on the shelf.
#
# The aim is a fill rate at least as good as the rules' with less stock and less waste.

# %%
TOTAL_METRICS = ["fill_rate", "cycle_service_level", "stockout_weeks", "avg_on_hand_units", "avg_on_hand_value", "turns",
                 "expired_units", "expired_value", "demand_units", "served_units"]
totals = result.totals.set_index("policy")[TOTAL_METRICS].T
display(totals.round(3))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for ax, (metric, label) in zip(axes, (("fill_rate", "fill rate"), ("avg_on_hand_value", "average on-hand value"),
                                      ("expired_units", "expired units")), strict=True):
    values = result.totals.set_index("policy")[metric]
    ax.bar(values.index, values, color=["tab:blue", "tab:gray", "tab:olive"][: len(values)])
    ax.set_title(label)
    ax.tick_params(axis="x", rotation=20)
    if metric == "fill_rate":
        ax.set_ylim(max(0.0, values.min() - 0.05), 1.0)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Series by series
#
# Each point is one location x drug. Left: average stock held under a rule (x) and under
# `turnover` (y), in value, log scales; points below the diagonal hold less with `turnover`
# (series holding nothing under one of the policies, such as dead items, are left out and counted
# in the title). Right: the share of demand left unmet, in %, under the rule (x) and under
# `turnover` (y); points above the diagonal lost more sales with `turnover`. The unmet axis is
# linear up to 1 % and logarithmic beyond, so the many series at 0 stay visible. A point high on
# the right and low on the left is a drug where `turnover` saved stock at the cost of service:
# look at its reason in the par levels.


# %%
def side_by_side(per_series: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """One row per series: ``metric`` under ``baseline`` and under turnover."""
    wide = per_series.pivot_table(index=["location_id", "drug_id"], columns="policy", values=metric)
    return wide[[baseline, "turnover"]].dropna()


def plot_on_hand(ax, per_series: pd.DataFrame, baseline: str) -> None:
    value = side_by_side(per_series, "avg_on_hand_value", baseline)
    held = value[(value > 0).all(axis=1)]
    ax.scatter(held[baseline], held["turnover"], s=12, alpha=0.6)
    limits = [held.min().min(), held.max().max()]
    ax.plot(limits, limits, color="black", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel=f"{baseline}: average on-hand value",
           ylabel="turnover: average on-hand value", title=f"stock held ({len(value) - len(held)} series with none left out)")


def plot_unmet(ax, per_series: pd.DataFrame, baseline: str) -> None:
    unmet_percent = 100 * (1 - side_by_side(per_series, "fill_rate", baseline))
    ax.scatter(unmet_percent[baseline], unmet_percent["turnover"], s=12, alpha=0.6, color="tab:red")
    top = max(unmet_percent.max().max(), 1.0) * 1.2
    ax.plot([0, top], [0, top], color="black", ls=":", lw=1)
    ax.set_xscale("symlog", linthresh=1)  # linear to 1 %, log beyond: the zeros stay on the plot
    ax.set_yscale("symlog", linthresh=1)
    ax.set(xlim=(-0.05, top), ylim=(-0.05, top), xlabel=f"{baseline}: demand unmet (%)",
           ylabel="turnover: demand unmet (%)", title="demand left unmet")


baselines = [p for p in result.totals["policy"] if p != "turnover"]
fig, axes = plt.subplots(len(baselines), 2, figsize=(11, 4.5 * len(baselines)), squeeze=False)
for row, baseline in enumerate(baselines):
    plot_on_hand(axes[row, 0], per_series, baseline)
    plot_unmet(axes[row, 1], per_series, baseline)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where turnover served least
#
# The series with the lowest fill rate under `turnover`, with the rules' figures beside them.
# Short replays end up with few cycles per drug, so one bad week weighs a lot; a run over more
# weeks (`TURNOVER_REPLAY_WEEKS`) tells more.

# %%
fill = per_series.pivot_table(index=["location_id", "drug_id"], columns="policy", values="fill_rate")
on_hand = per_series.pivot_table(index=["location_id", "drug_id"], columns="policy", values="avg_on_hand_units")
worst = fill.join(on_hand, lsuffix=" fill_rate", rsuffix=" avg_on_hand_units").nsmallest(10, "turnover fill_rate")
labels = names.set_index(["location_id", "drug_id"])[["drug_name", "demand_class", "model"]]
labels.join(worst, how="inner").loc[worst.index].round(3)

# %%
expired = per_series.groupby("policy")["expired_units"].agg(series_with_expiry=lambda s: int((s > 0).sum()),
                                                            expired_units="sum")
expired.assign(share_of_series=expired["series_with_expiry"] / per_series.groupby("policy").size()).round(3)

# %% [markdown]
# ## Efficient frontiers: stock against fill rate
#
# One point per policy compares policies at different fill rates. The same replay also swept each
# policy over its own knob (`turnover replay --frontier`; [docs/replay.md](../docs/replay.md)):
# `turnover` over a fill-rate target, each drug's level allocated at the least stock value;
# `turnover_one_level` with one service level for every drug; min/max over its z (each drug's z at least
# its floor's); days of supply over its days. Read the curves at the same fill rate: the lower curve
# holds less stock for the same service. The saving is read on each curve's efficient envelope, only
# where both curves reach.

# %%
print("\n".join(headline(result.frontier)))
display(Image(frontier_png(result.frontier, f"replay {start} .. {end}: stock against fill rate")))
display(savings(result.frontier).round(3).head(20))
