"""The demo pharmacy through every step: the CSV contract and seasonal pars a pharmacist expects."""

from __future__ import annotations

import csv
import re
from datetime import date

import pandas as pd
import pytest

from tests.conftest import LATE_MAY, LATE_NOVEMBER, LATE_OCTOBER
from turnover import schema
from turnover.demo.synthetic import DRUGS
from turnover.forecasting.models import BORROWED_PROFILE
from turnover.io.warehouse import open_warehouse


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
    # The forecast names its drug, as the par levels do.
    assert tuple(forecast.columns) == schema.FORECAST_CSV_COLUMNS and forecast["drug_name"].notna().all()
    names = november.set_index(["location_id", "drug_id"])["drug_name"]
    assert (forecast.set_index(["location_id", "drug_id"])["drug_name"] == names.reindex(
        forecast.set_index(["location_id", "drug_id"]).index)).all()


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
    assert frame["reason"].str.len().gt(0).all() and frame["forecast_basis"].str.len().gt(0).all()


WHOLE_UNIT_COLUMNS = ("reorder_point_units", "par_level_units", "on_hand_units", "on_order_units", "order_units",
                      "order_packs", "pack_size_units", "usable_on_hand_units", "quarantined_units", "expired_units",
                      "projected_waste_units", "expiry_cap_units", "annual_usage_units", "lead_time_days",
                      "review_period_days", "history_periods", "days_on_hand_at_par", "days_on_hand_current")


def test_whole_units_are_written_as_integers_in_every_csv(demo_warehouse):
    def cells(path, columns):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and set(columns) <= set(rows[0]), path.name
        return [(column, row[column]) for row in rows for column in columns]

    paths = {p.name.split("_20")[0]: p for p in demo_warehouse["outputs"][LATE_NOVEMBER] if p.parent.name == "out"}
    whole = {"par_levels": WHOLE_UNIT_COLUMNS, "expiry_risk": ("units", "projected_used_units", "projected_waste_units"),
             "quarantine": ("units",), "shortages": ("usable_on_hand_units", "lead_time_days")}
    for stem, columns in whole.items():
        bad = [(c, v) for c, v in cells(paths[stem], columns) if not re.fullmatch(r"-?\d+|", v)]
        assert not bad, (stem, bad[:5])
    calendar = paths["par_calendar"]
    weeks = [c for c in calendar.read_text(encoding="utf-8-sig").splitlines()[0].replace('"', "").split(",")
             if c.startswith("par_")]
    assert all(re.fullmatch(r"\d+", v) for _, v in cells(calendar, weeks))
    # Fractions stay where they are fractions: forecasts to 1 decimal, money to 2.
    forecast = cells(paths["forecast"], ("mean", "q95"))
    assert all(re.fullmatch(r"\d+\.\d", v) for _, v in forecast) and any(not v.endswith(".0") for _, v in forecast)
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?|", v) for _, v in cells(paths["expiry_risk"], ("projected_waste_value",)))


def test_columns_that_do_not_apply_are_empty(pars, demo_warehouse):
    november = pars[LATE_NOVEMBER]
    capped = november["binding_constraint"].isin(["expiry cap"])
    assert capped.sum() >= 2 and november.loc[capped, "expiry_cap_units"].notna().all()
    uncapped = november[november["binding_constraint"] != "expiry cap"]
    # Filled elsewhere only where the vital minimum overrode a cap that would have cut the order.
    assert uncapped["expiry_cap_units"].isna().sum() > 0.9 * len(uncapped)
    assert uncapped.loc[uncapped["expiry_cap_units"].notna(), "binding_constraint"].eq("vital minimum").all()
    risk = pd.read_csv(next(p for p in demo_warehouse["outputs"][LATE_NOVEMBER] if p.name.startswith("expiry_risk_")),
                       dtype={"drug_id": str, "lot": str}, encoding="utf-8-sig")
    unusable = risk[risk["status"] != "usable"]
    assert len(unusable) >= 2
    assert unusable[["projected_used_units", "projected_waste_units", "projected_waste_value"]].isna().all().all()
    assert risk.loc[risk["status"] == "usable", "projected_used_units"].notna().all()


def test_every_par_row_says_why_in_words(pars):
    november = pars[LATE_NOVEMBER].set_index(["location_id", "drug_name"])
    oseltamivir = november.loc[("STORE-01", "Oseltamivir 75 mg capsule")]
    assert oseltamivir.binding_constraint == "seasonal rise"
    assert re.match(r"Par up from [\d,]+ to [\d,]+ since the previous run on 2026-10-25: flu season rising \([\d,]+ "
                    r"units expected in the next 4 weeks vs [\d,]+ in the last 4\)\.$", oseltamivir.reason), oseltamivir.reason
    ranitidine = november.loc[("STORE-01", "Ranitidine 150 mg tablet")]
    assert "no use in the last 4 months, not reordered" in ranitidine.reason and ranitidine.par_level_units == 0
    assert "no use in the last 26 weeks" in ranitidine.forecast_basis


# Words of the forecast's workings that the buyer's reason never uses: they live in forecast_basis.
JARGON = re.compile(r"MASE|pinball|fold|quantile|backtest|\bpaths?\b|\d+\.\d+%|" + "|".join(
    rf"\b{re.escape(key)}\b" for key in ("dynamic_harmonic", "holt_winters", "exp_smoothing", "empirical_bootstrap",
                                          "seasonal_naive", "moving_average", "croston_sba", "tsb", "no_history",
                                          "combination", "borrowed_profile", "global_gbm", "signal_regression")))


def test_the_reason_is_in_a_buyers_words_and_the_forecast_basis_keeps_the_model_details(pars):
    for frame in pars.values():
        assert not frame["reason"].str.contains(JARGON).any(), frame.loc[frame["reason"].str.contains(JARGON), "reason"]
        backtested = frame[frame["forecast_basis"].str.contains("chosen by backtest")]
        assert len(backtested) > len(frame) / 2
        assert backtested["forecast_basis"].str.contains(r"MASE \d\.\d\d").all()
        assert backtested["forecast_basis"].str.contains(r"\d+ folds").all()
        assert frame["reason"].str.count(r"\. ").le(1).all()  # one or two sentences


def test_a_series_that_is_not_seasonal_never_gets_a_seasonal_reason(pars):
    for frame in pars.values():
        strength = frame["seasonality_strength"]
        not_seasonal = (strength < 0.3) | (strength.isna() & (frame["model"] != BORROWED_PROFILE))
        assert not_seasonal.sum() > len(frame) / 2
        rows = frame[not_seasonal]
        assert not rows["reason"].str.contains("season", case=False).any(), rows.loc[
            rows["reason"].str.contains("season", case=False), ["drug_name", "reason"]]
        assert not rows["binding_constraint"].isin(["seasonal rise", "seasonal fall"]).any()


def test_the_reason_says_how_the_par_moved_since_the_previous_run(pars):
    assert not pars[LATE_MAY]["reason"].str.contains("since|first par", case=False).any()  # the first run
    for as_of, previous in ((LATE_OCTOBER, LATE_MAY), (LATE_NOVEMBER, LATE_OCTOBER)):
        now = pars[as_of].set_index(["location_id", "drug_id"])
        before = pars[previous].set_index(["location_id", "drug_id"])["par_level_units"].reindex(now.index)
        since = f"since the previous run on {previous.isoformat()}"
        moved = now["par_level_units"] != before
        expected = ["First par for this item" if pd.isna(b) else f"Par unchanged {since}" if not m
                    else f"Par {'up' if p > b else 'down'} from {b:,.0f} to {p:,.0f} {since}"
                    for p, b, m in zip(now["par_level_units"], before, moved, strict=True)]
        assert [r.startswith(e) for r, e in zip(now["reason"], expected, strict=True)] == [True] * len(now)


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
    months = [f"{2026 + (10 + k) // 12}-{(10 + k) % 12 + 1:02d}-01" for k in range(12)]
    assert sorted(forecast["period_start"].unique()) == months  # the default horizon of a monthly run: a year
    par_calendar = pd.read_csv(par_path.with_name(par_path.name.replace("par_levels", "par_calendar")))
    # one par per month of the horizon, each from that month's review day
    assert [c for c in par_calendar.columns if c.startswith("par_")] == [f"par_{m}" for m in months]
    pars = read_pars(par_path)
    assert len(pars) == 3 * len(DRUGS) and "expected in the next 4 months" in " ".join(pars["reason"])
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
