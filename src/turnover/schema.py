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
ON_HAND_LOTS = "ref.on_hand_lots"
RECALLS = "ref.recalls"
SHORTAGES = "ref.shortages"
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
PAR_CALENDAR = "marts.par_calendar"
LOTS = "marts.lots"
QUARANTINE = "marts.quarantine"
RECALL_AUDIT = "marts.recall_audit"  # append-only
SHORTAGE_FLAGS = "marts.shortages"
TRANSFERS = "marts.transfers"  # per run: stock to move before it expires (turnover.inventory.transfers)
FORECAST_ACCURACY = "marts.forecast_accuracy"  # forecast vs actual, kept across runs
DRIFT_FLAGS = "marts.drift_flags"
ACCURACY_SUMMARY = "marts.accuracy_summary"  # scores past their retention, compacted (turnover.io.retention)
WAREHOUSE_FILE = "main.warehouse_file"  # the warehouse file's size after each rewrite (turnover.io.retention)
MODEL_SELECTION = "marts.model_selection"  # per run: each series' model and the selection it came from

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
    "binding_constraint",
    "reason",
    "forecast_basis",
    "criticality",
    "abc_class",
    "usable_on_hand_units",
    "quarantined_units",
    "expired_units",
    "projected_waste_units",
    "expiry_cap_units",
    "in_shortage",
    "annual_usage_units",
    "turns_at_par",
    "days_on_hand_at_par",
    "turns_current",
    "days_on_hand_current",
    "slow_mover",
    "overstock",
    "expected_fill_rate",
)
QUARANTINE_CSV_COLUMNS = (
    "location_id", "drug_id", "drug_name", "lot", "expiry_date", "units", "recall_number", "classification",
    "status", "reason_for_recall", "matched_by",
)
LOTS_CSV_COLUMNS = (
    "location_id", "drug_id", "drug_name", "lot", "expiry_date", "units", "status", "projected_used_units",
    "projected_waste_units", "projected_waste_value", "action", "transferred_units", "waste_after_transfer_units",
    "transferred_to",
)
TRANSFER_CSV_COLUMNS = (
    "from_location_id", "to_location_id", "drug_id", "drug_name", "lot", "expiry_date", "units", "value_saved",
    "lot_waste_units", "receiver_need_units", "reason",
)
SHORTAGE_CSV_COLUMNS = (
    "location_id", "drug_id", "drug_name", "shortage_status", "shortage_generic_name", "availability",
    "usable_on_hand_units", "lead_time_days", "service_level", "alternatives",
)
FORECAST_CSV_COLUMNS = (
    "location_id",
    "drug_id",
    "drug_name",
    "period_start",
    "mean",
    *QUANTILE_COLUMNS,
    "model",
    "demand_class",
)

# The par calendar's columns after the ids: one per week ahead, named for the week's start.
PAR_WEEK_COLUMN = "par_{week_start}"  # week_start as YYYY-MM-DD
PAR_WEEK_COLUMN_PATTERN = r"par_\d{4}-\d{2}-\d{2}"

# How numbers are written in the CSVs (``turnover.io.spreadsheet.csv_numbers``); a column not listed is written as it is.
# Counts of whole units, packs, days and periods: written as integers (a count the inputs gave with a fraction,
# such as half a tablet, keeps it). The par calendar's ``par_<week start>`` columns are counts too.
CSV_COUNT_COLUMNS = (
    "reorder_point_units", "par_level_units", "on_hand_units", "on_order_units", "order_units", "order_packs",
    "pack_size_units", "usable_on_hand_units", "quarantined_units", "expired_units", "units", "lead_time_days",
    "review_period_days", "history_periods", "demand_units", "served_units", "ordered_units", "orders", "cycles",
    "stockout_weeks", "series",
)
# Estimates and money, rounded to this many decimals (0: whole units or days, written as integers).
CSV_DECIMALS = {
    "expiry_cap_units": 0, "annual_usage_units": 0, "projected_used_units": 0, "projected_waste_units": 0,
    "transferred_units": 0, "waste_after_transfer_units": 0, "lot_waste_units": 0, "receiver_need_units": 0,
    "days_on_hand_at_par": 0, "days_on_hand_current": 0, "days_on_hand": 0,
    "forecast_units_next_4_periods": 1, "mean": 1, **{q: 1 for q in QUANTILE_COLUMNS}, "avg_on_hand_units": 1,
    "turns_at_par": 1, "turns_current": 1, "turns": 1,
    "projected_waste_value": 2, "value_saved": 2, "avg_on_hand_value": 2, "expired_value": 2, "demand_value": 2,  # money
    "seasonality_strength": 2, "service_level": 3, "fill_rate": 3, "fill_rate_value": 3, "expected_fill_rate": 3, "cycle_service_level": 3,
}
