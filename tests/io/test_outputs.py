"""A run's outputs as the warehouse gives them back for the files purchasing opens."""

from __future__ import annotations

from datetime import date

import pandas as pd

from turnover import schema
from turnover.io import outputs
from turnover.io.warehouse import open_warehouse


def with_required_columns(con, table: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a value in each other column of ``table`` that may not be null."""
    described = con.execute(f"describe {table}").fetchall()  # name, type, null, ...
    return rows.assign(**{name: "x" if kind == "VARCHAR" else 0 for name, kind, null, *_ in described
                          if null == "NO" and name not in rows and name != "run_id"})


def test_the_forecast_rows_carry_each_series_drug_name_and_demand_class_as_the_merged_tables_did(tmp_path):
    forecast = pd.DataFrame({
        "location_id": ["L1", "L1", "L1", "L2", "L0"], "drug_id": ["B", "A", "A", "A", "C"],
        "period_start": [date(2026, 11, 23), date(2026, 11, 30), date(2026, 11, 23), date(2026, 11, 23),
                         date(2026, 11, 23)],
        "mean": [1.5, 2.0, 3.0, 4.0, 5.0], "model": ["ets", "croston", "croston", "ets", "naive"],
    }).assign(**{q: 9.0 for q in schema.QUANTILE_COLUMNS})
    classes = pd.DataFrame({"location_id": ["L1", "L1", "L2"], "drug_id": ["A", "B", "A"],  # L0 C has none
                            "demand_class": ["smooth", "lumpy", "erratic"]})
    with open_warehouse(tmp_path / "w.duckdb") as con:
        pars = with_required_columns(con, schema.PAR_LEVELS, pd.DataFrame(  # L1 B has no par: no name
            {"location_id": ["L1", "L2", "L0"], "drug_id": ["A", "A", "C"], "drug_name": ["Amox", "Amox", "Cef"]}))
        tables = {schema.FORECAST: forecast, schema.DEMAND_CLASS: with_required_columns(con, schema.DEMAND_CLASS,
                                                                                          classes),
                  schema.PAR_LEVELS: pars}
        outputs.write_run_tables(con, "r1", tables)
        outputs.write_run_tables(con, "r0", tables)  # another run's rows stay out
        rows = outputs.read_forecast_csv_rows(con, "r1")
        names = outputs.read_run_table(con, schema.PAR_LEVELS, "r1")[["location_id", "drug_id", "drug_name"]]
        merged = outputs.read_run_table(con, schema.FORECAST, "r1").merge(
            outputs.read_run_table(con, schema.DEMAND_CLASS, "r1")[["location_id", "drug_id", "demand_class"]],
            on=["location_id", "drug_id"]).merge(names, on=["location_id", "drug_id"], how="left")
    # Missing names are None here where the merge had NaN: both are the CSV's empty field.
    merged = merged[list(schema.FORECAST_CSV_COLUMNS)]
    pd.testing.assert_frame_equal(rows.fillna(pd.NA), merged.fillna(pd.NA))
    assert rows[["location_id", "drug_id", "drug_name", "demand_class"]].fillna("-").values.tolist() == [
        ["L1", "A", "Amox", "smooth"], ["L1", "A", "Amox", "smooth"], ["L1", "B", "-", "lumpy"],
        ["L2", "A", "Amox", "erratic"]]
