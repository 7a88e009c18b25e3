"""Names of warehouse tables and columns, and the ingest column allowlist.

Identifiers used in SQL come from here, never from user input. The warehouse has three layers:
``raw`` (what was loaded, as loaded), ``staging`` (derived per run, replaced), ``marts`` (run
outputs, kept per ``run_id``).
"""

from __future__ import annotations

# raw: dispensing as loaded, the rows refused, and the ledger of files already seen.
DISPENSING = "raw.dispensing"
DISPENSING_REJECTS = "raw.dispensing_rejects"
LOADED_FILES = "raw.loaded_files"

# ref: the latest reference snapshots (replaced on each load).
CATALOG = "ref.catalog"
ON_HAND = "ref.on_hand"
STOCKOUTS = "ref.stockouts"
CLOSURES = "ref.closures"
SIGNALS = "ref.signals"
REFERENCE_FILES = "ref.loaded_files"

# staging: rebuilt by each run.
DEMAND_SERIES = "staging.demand_series"
SERIES = "staging.series"

# marts: one partition per run.
RUNS = "marts.runs"
FORECAST = "marts.forecast"
PROTECTION_DEMAND = "marts.protection_demand"
PAR_LEVELS = "marts.par_levels"
DEMAND_CLASS = "marts.demand_class"
BACKTEST_SCORES = "marts.backtest_scores"
CALIBRATION = "marts.calibration"

# Canonical dispensing columns. Only these ever reach the warehouse: whatever else an export
# carries (patient, prescriber, prescription identifiers) is never selected from the file.
REQUIRED_DISPENSING_COLUMNS = ("dispensed_at", "location_id", "drug_id", "quantity")
OPTIONAL_DISPENSING_COLUMNS = ("drug_name", "ndc")


QUANTILE_COLUMNS = ("q50", "q80", "q90", "q95", "q99")
QUANTILE_LEVELS = (0.50, 0.80, 0.90, 0.95, 0.99)

# The purchasing CSV is a contract: these columns, in this order.
PAR_LEVEL_CSV_COLUMNS = (
    "location_id",
    "drug_id",
    "drug_name",
    "reorder_point_units",
    "par_level_units",
    "on_hand_units",
    "on_order_units",
    "order_units",
    "order_packs",
    "pack_size_units",
    "service_level",
    "lead_time_days",
    "review_period_days",
    "forecast_units_next_4_periods",
    "history_periods",
    "demand_class",
    "lifecycle",
    "seasonality_strength",
    "model",
    "reason",
)
FORECAST_CSV_COLUMNS = (
    "location_id",
    "drug_id",
    "period_start",
    "mean",
    *QUANTILE_COLUMNS,
    "model",
    "demand_class",
)
