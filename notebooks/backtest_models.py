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
# # Backtest accuracy: which model each drug got, and why
#
# Before forecasting, each location x drug tries its candidate models on its own past: the model is
# trained on the history up to a cutoff and scored on the 13 weeks after it, for six cutoffs eight
# weeks apart (a whole year of flu seasons and summers). The model with the lowest mean error wins,
# unless the preferred (simpler, earlier listed) one is within 5 % of it. Series with too little
# history or no recent use skip the backtest and get a model by rule.
#
# Choose with environment variables before starting Jupyter (`make notebooks`, see docs/notebooks.md):
#
# - `TURNOVER_DB`: the warehouse file (default: `warehouse_path` in the repository's `turnover.toml`);
#   a relative path is read from the repository root, whatever folder the notebook runs in;
# - `TURNOVER_RUN`: a run id or its first characters (default: the latest completed run);
# - `TURNOVER_LOCATION`, `TURNOVER_DRUG`: the example series at the end (default: Oseltamivir at
#   the first location, else the series with the most candidates).
#
# The warehouse is opened **read-only**, so this notebook never blocks or alters a run.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from turnover.io.notebook import chosen_run, warehouse_path
from turnover.io.warehouse import connect

con = connect(warehouse_path(), read_only=True)
run_id, as_of, period, _ = chosen_run(con)
scores = con.execute(
    "select * exclude (run_id) from marts.backtest_scores where run_id = ? order by location_id, drug_id, model, train_periods",
    [run_id],
).df()
calibration = con.execute("select * exclude (run_id) from marts.calibration where run_id = ?", [run_id]).df()
pars = con.execute(
    """
    select p.location_id, p.drug_id, p.drug_name, p.demand_class, p.seasonality_strength, p.model, p.service_level,
           p.reason, p.forecast_basis, d.basis
    from marts.par_levels p
    left join marts.protection_demand d using (run_id, location_id, drug_id)
    where p.run_id = ?
    order by p.location_id, p.drug_id
    """,
    [run_id],
).df()
con.close()
print(f"run {run_id} (as of {as_of}, {period}ly): {len(pars)} series, "
      f"{scores.groupby(['location_id', 'drug_id']).ngroups} backtested, {len(scores)} fold scores")

# %% [markdown]
# ## Scores, in a sentence each
#
# - **MASE** (mean absolute scaled error): the forecast's mean absolute error over the 13 weeks
#   after a cutoff, divided by the error a "same week last year" guess made on the training
#   history. Below 1 beats that guess; 0.7 makes 30 % less error. It judges the *typical* week and
#   picks the model.
# - **Scaled pinball** at the drug's service level: the same scale, for the high quantile the par
#   level is read from. Lower is better.
# - **Coverage q95**: share of the scored weeks at or below the forecast's 95th percentile; a
#   calibrated forecast covers about 95 %.
#
# Each series is summarised by its mean over the folds first, so every drug counts once. As in the
# run's choice, candidates are compared on the folds they all have (a model needing more history
# skips the earliest folds).

# %%
SERIES = ["location_id", "drug_id"]
models_per_fold = scores.groupby([*SERIES, "train_periods"])["model"].transform("size")
shared_folds = scores[models_per_fold == scores.groupby(SERIES)["model"].transform("nunique")]
per_series = shared_folds.groupby([*SERIES, "model"], as_index=False).agg(
    mase=("mase", "mean"), scaled_pinball=("scaled_pinball", "mean"), coverage_q95=("coverage_q95", "mean"),
    chosen=("chosen", "any"), folds=("mase", "size"),
)
per_series["best_mase"] = per_series.groupby(SERIES)["mase"].transform("min")
per_series["candidates"] = per_series.groupby(SERIES)["model"].transform("size")

# %% [markdown]
# ## Which model each demand class got
#
# Rows: the model the run forecast with (its `model` column in the par levels); columns: the
# series' demand class. *By rule* counts the series that skipped the backtest (new, dead or nearly
# unused items). A model that appears here but was never chosen in a backtest is a fallback.


# %%
def chosen_by_class(pars: pd.DataFrame, per_series: pd.DataFrame) -> pd.DataFrame:
    """Series per (model, demand class), with how many were decided by backtest and by rule."""
    backtested = per_series.loc[per_series["chosen"], SERIES].assign(by_backtest=True)
    frame = pars.merge(backtested, on=SERIES, how="left")
    frame["by_backtest"] = frame["by_backtest"].astype("boolean").fillna(False)
    table = pd.crosstab(frame["model"], frame["demand_class"].fillna("none"))
    table["all"] = table.sum(axis=1)
    table["by_backtest"] = frame.groupby("model")["by_backtest"].sum()
    table["by_rule"] = table["all"] - table["by_backtest"]
    table = table.sort_values("all", ascending=False)
    table.loc["all"] = table.sum()
    return table


chosen_by_class(pars, per_series)

# %% [markdown]
# ## Accuracy per model: everywhere it was tried vs where it won
#
# For each model: how many series tried it and how often it was chosen, its mean MASE over all the
# series that tried it and over those where it was chosen, and how often the chosen model was not the
# lowest-MASE candidate (kept within the 5 % tolerance as the preferred model). A model that
# scores well where it wins but poorly elsewhere is a specialist: the backtest is doing its job.


# %%
def model_table(per_series: pd.DataFrame) -> pd.DataFrame:
    """Per model: series tried and chosen, mean MASE tried / chosen, q95 coverage, chosen though not best."""
    chosen = per_series[per_series["chosen"]]
    out = pd.DataFrame({
        "series_tried": per_series.groupby("model").size(),
        "series_chosen": chosen.groupby("model").size(),
        "mean_mase_tried": per_series.groupby("model")["mase"].mean(),
        "mean_mase_chosen": chosen.groupby("model")["mase"].mean(),
        "mean_pinball_tried": per_series.groupby("model")["scaled_pinball"].mean(),
        "coverage_q95_tried": per_series.groupby("model")["coverage_q95"].mean(),
        "chosen_not_lowest": chosen.assign(x=chosen["mase"] > chosen["best_mase"] + 1e-12).groupby("model")["x"].sum(),
    })
    out["win_share"] = out["series_chosen"] / out["series_tried"]
    return out.fillna({"series_chosen": 0, "chosen_not_lowest": 0}).sort_values("series_chosen", ascending=False)


model_table(per_series).round(3)

# %% [markdown]
# ## MASE distribution by model
#
# One point per series that tried the model (its mean MASE over the folds); the box holds the
# middle half, the line in it is the median. Orange dots are the series where the model was chosen.
# The dotted line at 1 is the "same week last year" guess. Log scale: a few series with almost no
# demand make very large scaled errors.


# %%
def plot_mase_by_model(per_series: pd.DataFrame) -> None:
    order = per_series.groupby("model")["mase"].median().sort_values().index
    fig, ax = plt.subplots(figsize=(12, 4.5))
    data = [per_series.loc[per_series["model"] == m, "mase"].clip(lower=1e-3) for m in order]
    ax.boxplot(data, showfliers=False, medianprops={"color": "black"})
    rng = np.random.default_rng(0)  # jitter only, for legibility
    for i, model in enumerate(order, start=1):
        rows = per_series[per_series["model"] == model]
        x = i + rng.uniform(-0.15, 0.15, len(rows))
        colors = np.where(rows["chosen"], "tab:orange", "tab:gray")
        ax.scatter(x, rows["mase"].clip(lower=1e-3), s=10, c=colors, alpha=0.6, lw=0)
    ax.set_xticks(range(1, len(order) + 1), order, rotation=30, ha="right")
    ax.axhline(1, color="black", ls=":", lw=1)
    ax.set(yscale="log", ylabel="mean MASE over folds (log)", title="Backtest MASE by model (orange: chosen)")
    fig.tight_layout()
    plt.show()


plot_mase_by_model(per_series)

# %% [markdown]
# ## Coverage of the 95th percentile, before and after calibration
#
# Raw model quantiles are rarely exact: some models are too wide, others too narrow. The run
# measures each model's miss rate in the backtests (pooled over the series that chose it) and reads
# the paths at a corrected level, e.g. the 97th percentile where the raw 95th covered only 93 %.
# Bars: share of backtest weeks at or below the 95th percentile, raw and after the correction
# (scored out of fold: each fold with a correction fitted on the others). *Near* is the first four
# weeks after a cutoff (what a par level covers); *all* is the whole 13-week horizon.
# Models with fewer than 40 scored weeks keep their raw levels: too few to estimate a 95th percentile.


# %%
TARGET_LEVEL = 0.95
q95 = calibration[np.isclose(calibration["target_level"], TARGET_LEVEL)]
coverage = q95.pivot_table(index="model", columns="scope",
                           values=["coverage_raw", "coverage_calibrated", "calibrated_level", "n_pits"])
coverage.columns = [f"{value}_{scope}" for value, scope in coverage.columns]
coverage = coverage[[f"{value}_{scope}" for scope in ("near", "all")
                     for value in ("coverage_raw", "coverage_calibrated", "calibrated_level", "n_pits")]]
display(coverage.round(3))

near = q95[q95["scope"] == "near"].sort_values("n_pits", ascending=False)
fig, ax = plt.subplots(figsize=(11, 4))
x = np.arange(len(near))
ax.bar(x - 0.2, near["coverage_raw"], 0.4, label="raw q95", color="tab:gray")
ax.bar(x + 0.2, near["coverage_calibrated"], 0.4, label="after calibration", color="tab:blue")
for xi, n in zip(x, near["n_pits"], strict=True):
    ax.annotate(f"n={n}", (xi, 0.805), ha="center", fontsize=7, color="white")
ax.axhline(TARGET_LEVEL, color="tab:red", ls="--", lw=1, label="target 95 %")
ax.set_xticks(x, near["model"], rotation=30, ha="right")
ax.set(ylim=(0.8, 1.06), ylabel="share of weeks covered", title="q95 coverage in the first 4 weeks after each cutoff")
ax.legend(loc="upper left", ncol=3, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## One series: the candidates' scores and the reason
#
# The candidates' scores fold by fold (`train_periods`: weeks of history the fold trained on),
# their means, and the run's explanation of the par level in words. The chosen model is starred.


# %%
def default_series(pars: pd.DataFrame, per_series: pd.DataFrame) -> tuple[str, str]:
    """Oseltamivir at the first location if backtested there, else the series with the most candidates."""
    backtested = per_series.drop_duplicates(SERIES).sort_values(["candidates", *SERIES], ascending=[False, True, True])
    oseltamivir = pars[pars["drug_name"].fillna("").str.startswith("Oseltamivir")].merge(backtested[SERIES], on=SERIES)
    row = (oseltamivir if len(oseltamivir) else backtested).iloc[0]
    return row["location_id"], row["drug_id"]


location, drug = default_series(pars, per_series)
location = os.environ.get("TURNOVER_LOCATION") or location
drug = os.environ.get("TURNOVER_DRUG") or drug
example = scores[(scores["location_id"] == location) & (scores["drug_id"] == drug)]
par = pars[(pars["location_id"] == location) & (pars["drug_id"] == drug)]
if par.empty:
    raise RuntimeError(f"no par level for {location} x {drug} in run {run_id}")
par = par.iloc[0]
print(f"{par['drug_name']} at {location}: demand class {par['demand_class']}, "
      f"seasonality strength {par['seasonality_strength']:.2f}, model {par['model']}")
if example.empty:
    print("no backtest: the model was chosen by rule")
else:
    chosen_model = example.loc[example["chosen"], "model"].iloc[0] if example["chosen"].any() else None
    by_fold = example.pivot_table(index="train_periods", columns="model", values="mase")
    by_fold.loc["mean"] = by_fold.mean()
    by_fold.columns = [f"{m} *" if m == chosen_model else m for m in by_fold.columns]
    display(by_fold.round(3))

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for model, rows in example.groupby("model"):
        ax.plot(rows["train_periods"], rows["mase"], marker="o", lw=2.5 if model == chosen_model else 1,
                label=f"{model}{' (chosen)' if model == chosen_model else ''}")
    ax.axhline(1, color="black", ls=":", lw=1)
    ax.set(xlabel="weeks of history at the cutoff", ylabel="MASE", title=f"{par['drug_name']} at {location}: MASE by fold")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()

print("why this model:", par["basis"])
print("\nwhy this par level (the purchaser's reason):", par["reason"])
print("\nthe forecast behind it:")
for part in par["forecast_basis"].split("; "):
    print(" -", part)
