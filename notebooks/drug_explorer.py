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
# # Drug explorer: one drug at one location
#
# Demand history, the latest forecast and the par level the weekly run set, for one
# location x drug.
#
# Choose with environment variables before starting Jupyter (`make notebooks`, see docs/notebooks.md):
#
# - `TURNOVER_DB`: the warehouse file (default: `warehouse_path` in the repository's `turnover.toml`);
#   a relative path is read from the repository root, whatever folder the notebook runs in;
# - `TURNOVER_RUN`: a run id or its first characters (default: the latest completed run);
# - `TURNOVER_LOCATION`: a location id (default: the first location in the run);
# - `TURNOVER_DRUG`: a drug id (default: Oseltamivir, else the first drug).
#
# The warehouse is opened **read-only**, so this notebook never blocks or alters a run.

# %%
import os

import matplotlib.pyplot as plt

from turnover.io.notebook import chosen_run, warehouse_path
from turnover.io.warehouse import connect

con = connect(warehouse_path(), read_only=True)
run_id, as_of, period, _ = chosen_run(con)

choices = con.execute(
    "select location_id, drug_id, drug_name from marts.par_levels where run_id = ? order by location_id, drug_id",
    [run_id],
).df()
location = os.environ.get("TURNOVER_LOCATION") or choices["location_id"].iloc[0]
at_location = choices[choices["location_id"] == location]
oseltamivir = at_location[at_location["drug_name"].fillna("").str.startswith("Oseltamivir")]
drug = os.environ.get("TURNOVER_DRUG") or (oseltamivir if len(oseltamivir) else at_location)["drug_id"].iloc[0]
print(f"run {run_id} (as of {as_of}, {period}ly) | location {location} | drug {drug}")

# %%
key = [location, drug]
history = con.execute(
    "select period_start, units, units_net, units_returned from staging.demand_series"
    " where location_id = ? and drug_id = ? and period_start <= ? and period_start > ? - interval 2 year"
    " order by period_start",
    [*key, as_of, as_of],
).df()
forecast = con.execute(
    "select period_start, mean, q50, q80, q90, q95, q99, model from marts.forecast"
    " where run_id = ? and location_id = ? and drug_id = ? order by period_start",
    [run_id, *key],
).df()
par = con.execute(
    "select * from marts.par_levels where run_id = ? and location_id = ? and drug_id = ?", [run_id, *key]
).df()
con.close()
if par.empty:
    raise RuntimeError(f"no par level for {location} x {drug} in run {run_id}")
par = par.iloc[0]

# %% [markdown]
# ## Demand and forecast
#
# Left: units dispensed per period (returns netted) over the last two years, then the
# forecast mean with its uncertainty fan: the darker band is the median to the 80th
# percentile, the lighter ones reach the 95th and the 99th. Right: where stock stands
# against the reorder point (order when the inventory position falls below it) and the
# par level (order up to it), all in units.

# %%
fig, (ax, ax_stock) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [4, 1]})
ax.plot(history["period_start"], history["units"], color="black", lw=1.2, label="history (units)")
ax.plot(forecast["period_start"], forecast["mean"], color="tab:blue", lw=2, label="forecast mean")
for low, high, alpha in (("q50", "q80", 0.45), ("q80", "q95", 0.3), ("q95", "q99", 0.15)):
    ax.fill_between(forecast["period_start"], forecast[low], forecast[high], color="tab:blue", alpha=alpha,
                    lw=0, label=f"{low}-{high}")
ax.axvline(as_of, color="grey", ls=":", lw=1)
ax.set(xlabel="period start", ylabel=f"units per {period}",
       title=f"{par['drug_name']} at {location}\nas of {as_of}, model {par['model']}")
ax.legend(loc="upper left", fontsize=8)

position = par["on_hand_units"] + par["on_order_units"]
ax_stock.bar(["on hand", "on hand\n+ on order"], [par["on_hand_units"], position], color=["tab:gray", "tab:green"])
for value, name, style in ((par["reorder_point_units"], "reorder point", "--"), (par["par_level_units"], "par level", "-")):
    ax_stock.axhline(value, color="tab:red", ls=style, lw=1.5)
    ax_stock.annotate(f"{name}: {value:g}", (0.02, value), xycoords=("axes fraction", "data"),
                      xytext=(0, 3), textcoords="offset points", fontsize=8, color="tab:red")
ax_stock.set(ylabel="units", title=f"order {par['order_units']:g} units\n({par['order_packs']} packs of {par['pack_size_units']:g})")
ax_stock.set_ylim(0, 1.2 * max(position, par["par_level_units"], 1))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Why this par level
#
# The run's own explanation, in words, then the forecast behind it
# (service level, lead time and review period are the policy the par level is set for).

# %%
print(par["reason"])
print(f"service level {par['service_level']:.0%}, lead time {par['lead_time_days']} d, "
      f"review every {par['review_period_days']} d, {par['history_periods']} periods of history")
forecast.drop(columns="model").set_index("period_start").round(1)
