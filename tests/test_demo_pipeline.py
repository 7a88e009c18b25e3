"""The demo pharmacy through every step: the CSV contract and seasonal pars a pharmacist expects."""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest

from tests.conftest import LATE_MAY, LATE_NOVEMBER, LATE_OCTOBER
from turnover import schema
from turnover.io.warehouse import open_warehouse
from turnover.synthetic import DRUGS


def read_pars(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"drug_id": str, "location_id": str}, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def pars(demo_warehouse) -> dict:
    return {as_of: read_pars(paths[0]) for as_of, paths in demo_warehouse["outputs"].items()}


def par_of(pars: pd.DataFrame, name_prefix: str) -> pd.Series:
    rows = pars[pars["drug_name"].str.startswith(name_prefix)]
    return rows.set_index("location_id")["par_level_units"]


def test_every_location_and_drug_gets_a_par_row_and_a_forecast_for_each_week(demo_warehouse, demo_files, pars):
    november = pars[LATE_NOVEMBER]
    assert len(november) == 3 * len(DRUGS) and not november.duplicated(["location_id", "drug_id"]).any()
    forecast = pd.read_csv(demo_warehouse["outputs"][LATE_NOVEMBER][1], dtype={"drug_id": str})
    assert len(forecast) == 3 * len(DRUGS) * 13
    assert forecast["period_start"].min() == "2026-11-23"


def test_oseltamivir_par_in_late_november_is_at_least_twice_late_may_at_each_location(pars):
    ratio = par_of(pars[LATE_NOVEMBER], "Oseltamivir") / par_of(pars[LATE_MAY], "Oseltamivir")
    assert (ratio >= 2).all(), ratio.to_dict()


def test_atorvastatin_par_moves_less_than_a_quarter_between_the_seasons(pars):
    ratio = par_of(pars[LATE_NOVEMBER], "Atorvastatin") / par_of(pars[LATE_MAY], "Atorvastatin")
    assert ratio.between(0.75, 1.25).all(), ratio.to_dict()


def test_the_par_level_csv_keeps_the_contract_purchasing_opens(demo_warehouse):
    path = demo_warehouse["outputs"][LATE_NOVEMBER][0]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, so spreadsheets read it as UTF-8
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == schema.PAR_LEVEL_CSV_COLUMNS
    assert all(len(row) == len(rows[0]) for row in rows)
    assert '"00781206101"' in raw.decode("utf-8-sig")  # NDCs quoted as text, leading zeros kept
    frame = read_pars(path)
    assert (frame["order_units"] >= 0).all() and (frame["order_packs"] * frame["pack_size_units"] == frame["order_units"]).all()
    assert frame["reason"].str.len().gt(0).all()


def test_every_par_row_says_why_in_words(pars):
    november = pars[LATE_NOVEMBER].set_index(["location_id", "drug_name"])
    assert november.loc[("STORE-01", "Oseltamivir 75 mg capsule"), "reason"].startswith("seasonal rise")
    assert "no use in the last 26 weeks" in november.loc[("STORE-01", "Ranitidine 150 mg tablet"), "reason"]
    assert november.loc[("STORE-01", "Ranitidine 150 mg tablet"), "par_level_units"] == 0


def test_the_run_outputs_are_kept_in_the_warehouse_by_run_id(demo_warehouse):
    with open_warehouse(demo_warehouse["path"], read_only=True) as con:
        runs = con.execute(f"select run_id, status, n_series from {schema.RUNS} order by as_of").fetchall()
        per_run = con.execute(f"select run_id, count(*) from {schema.PAR_LEVELS} group by 1 order by 1").fetchall()
    assert runs == [(f"run-{d}", "completed", 3 * len(DRUGS)) for d in (LATE_MAY, LATE_OCTOBER, LATE_NOVEMBER)]
    assert [n for _, n in per_run] == [3 * len(DRUGS)] * 3


def test_one_par_file_per_location_is_written_beside_the_combined_one(demo_warehouse):
    paths = demo_warehouse["outputs"][LATE_NOVEMBER]
    per_location = sorted(p.name for p in paths if p.parent.name == "by_location")
    assert per_location == [f"par_levels_{LATE_NOVEMBER}_STORE-0{i}.csv" for i in (1, 2, 3)]


def test_monthly_buckets_run_the_same_engine_with_a_yearly_season_of_12(tmp_path, demo_files):
    from tests.conftest import make_settings, run_pipeline
    from turnover import pipeline

    settings = make_settings(tmp_path, forecast={"period": "month"})
    pipeline.load_history(settings, demo_files.history)
    pipeline.load_reference(settings, catalog=demo_files.catalog, on_hand=demo_files.on_hand,
                            stockouts=demo_files.stockouts, closures=demo_files.closures)
    par_path, forecast_path, *_ = run_pipeline(settings, date(2026, 10, 31), "monthly")
    forecast = pd.read_csv(forecast_path, dtype={"drug_id": str})
    assert sorted(forecast["period_start"].unique())[:2] == ["2026-11-01", "2026-12-01"]
    pars = read_pars(par_path)
    assert len(pars) == 3 * len(DRUGS) and "next 4 months" in " ".join(pars["reason"])
    oseltamivir = pars[pars["drug_name"].str.startswith("Oseltamivir")]
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        tried = {row[0] for row in con.execute(
            f"select distinct model from {schema.BACKTEST_SCORES} where run_id = 'monthly' and drug_id = ?",
            [oseltamivir["drug_id"].iloc[0]]).fetchall()}
    assert {"dynamic_harmonic", "seasonal_naive", "global_gbm"} <= tried  # the seasonal engine, season 12


def test_the_logged_amoxicillin_stockout_is_filled_in_not_read_as_zero_demand(demo_warehouse, demo_files):
    episode = pd.read_csv(demo_files.stockouts).iloc[0]
    stockout_days = set(pd.date_range(episode["start"], episode["end"]).date)
    holidays = set(pd.to_datetime(pd.read_csv(demo_files.closures)["date"]).dt.date)
    with open_warehouse(demo_warehouse["path"], read_only=True) as con:
        filled = dict(con.execute(
            f"select location_id, censored_periods from {schema.DEMAND_CLASS} d join {schema.CATALOG} c using (drug_id) "
            "where run_id = ? and c.generic_name = 'amoxicillin'", [f"run-{LATE_NOVEMBER}"]).fetchall())
        censored_days = dict(con.execute(
            f"select location_id, sum(censored_days) from {schema.DEMAND_SERIES} d join {schema.CATALOG} c using (drug_id) "
            "where c.generic_name = 'amoxicillin' group by all").fetchall())
    # 21 days out of stock at STORE-02 on top of the holidays every store shares (a day both closed
    # and out of stock counts once): the two whole weeks are filled in, the partial ones scaled up.
    assert len(stockout_days) == 21
    assert censored_days["STORE-02"] - censored_days["STORE-03"] == len(stockout_days - holidays)
    assert filled["STORE-02"] == 2 and filled["STORE-03"] == 0
