"""The synthetic chain at tiny scale: sizes, determinism, the demo's realism, and files the pipeline loads whole."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_settings
from turnover import pipeline
from turnover.demo.chain import ChainSpec, Fills, location_fills, plan_chain, recent_weekly_units, stock_by_lot, stream
from turnover.demo.chain_files import read_chain, write_chain
from turnover.io.warehouse import normalize_ndc

TINY = ChainSpec(locations=2, drugs=20, years=1.2, end=date(2026, 11, 15), seed=5)
REALISM = ChainSpec(locations=3, drugs=400, years=2.5, end=date(2026, 11, 15), seed=8)


@pytest.fixture(scope="module")
def realism() -> tuple:
    plan = plan_chain(REALISM)
    return plan, [location_fills(plan, i) for i in range(REALISM.locations)]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return write_chain(TINY, tmp_path_factory.mktemp("chain"))


def pooled(fills: list[Fills], drugs: np.ndarray, n_days: int) -> np.ndarray:
    """Fills (not returns) of ``drugs`` per day, summed over locations."""
    out = np.zeros(n_days)
    for f in fills:
        keep = np.isin(f.drug, drugs) & (f.quantity > 0)
        out += np.bincount(f.day[keep], minlength=n_days)
    return out


def weekly_use(fills: Fills, n_drugs: int, last_day: int, weeks: int) -> np.ndarray:
    """drugs x weeks: fills in each of the ``weeks`` weeks through ``last_day`` (latest last)."""
    keep = (fills.day <= last_day) & (fills.day > last_day - 7 * weeks) & (fills.quantity > 0)
    week = weeks - 1 - (last_day - fills.day[keep]) // 7
    out = np.zeros((n_drugs, weeks))
    np.add.at(out, (fills.drug[keep], week), 1)
    return out


def test_the_catalog_has_a_unique_eleven_digit_ndc_and_a_name_for_every_drug():
    drugs = plan_chain(TINY).drugs
    ids = drugs["drug_id"].tolist()
    assert len(ids) == len(set(ids)) == TINY.drugs
    assert all(len(i) == 11 and i.isdigit() for i in ids)
    assert normalize_ndc(ids) == ids
    assert drugs["drug_name"].str.len().min() > 5
    assert set(drugs["criticality"]) <= {"vital", "essential", "non-essential"}


def test_every_location_x_drug_has_history_so_the_chain_has_locations_times_drugs_series(realism):
    plan, fills = realism
    for f in fills:
        assert set(np.unique(f.drug[f.day < REALISM.history_days])) == set(range(REALISM.drugs))


def test_the_same_seed_gives_the_same_files_and_another_seed_other_ones(tmp_path, tiny_files):
    again = write_chain(TINY, tmp_path / "again")
    other = write_chain(replace(TINY, seed=6), tmp_path / "other")

    def digest(files) -> list[str]:
        paths = [*files.history.csv, *files.week.csv, files.history.on_hand, files.catalog, files.stockouts]
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]

    assert digest(again) == digest(tiny_files)
    assert digest(other) != digest(tiny_files)


def test_flu_and_winter_drugs_peak_in_winter_and_spring_drugs_in_spring(realism):
    plan, fills = realism
    month = plan.days.month.to_numpy()
    for patterns, season, off in ((["flu", "winter"], [12, 1, 2], [6, 7, 8]), (["spring"], [4, 5], [9, 10])):
        drugs = np.flatnonzero(plan.drugs["pattern"].isin(patterns).to_numpy())
        daily = pooled(fills, drugs, len(plan.days))
        assert daily[np.isin(month, season)].mean() > 1.5 * daily[np.isin(month, off)].mean(), patterns


def test_slow_movers_are_intermittent_at_weekly_grain_and_fast_movers_are_not(realism):
    plan, fills = realism
    last = REALISM.history_days - 1
    used = np.concatenate([weekly_use(f, REALISM.drugs, last, 26) > 0 for f in fills])
    rate = np.tile(plan.drugs["fills_per_day"].to_numpy(), REALISM.locations)
    steady = np.tile(plan.drugs["pattern"].to_numpy() == "steady", REALISM.locations)
    assert used[steady & (rate < 0.03)].mean() < 0.3
    assert used[steady & (rate > 1.0)].mean() > 0.9
    intermittent = used.mean(axis=1) < 0.5  # under half the last 26 weeks used (forecast.intermittent_nonzero_share)
    assert 0.35 < intermittent.mean() < 0.7


def test_new_items_start_within_the_last_year_and_discontinued_items_stop(realism):
    plan, fills = realism
    drugs = plan.drugs
    new = np.flatnonzero(drugs["pattern"].to_numpy() == "new")
    gone = np.flatnonzero(drugs["pattern"].to_numpy() == "discontinued")
    assert len(new) and len(gone)
    for f in fills:
        sold = f.quantity > 0
        for d in new:
            first = f.day[sold & (f.drug == d)].min()
            assert first >= drugs["first_active_day"].iat[d] >= REALISM.history_days - 366
        for d in gone:
            days = f.day[sold & (f.drug == d)]
            assert days.max() <= drugs["last_active_day"].iat[d] <= REALISM.history_days - 120


def test_returns_are_about_one_and_a_half_percent_of_rows_and_negative(realism):
    _, fills = realism
    quantity = np.concatenate([f.quantity for f in fills])
    assert 0.01 < (quantity < 0).mean() < 0.02
    assert np.all(quantity != 0)


def test_nothing_is_dispensed_on_closed_days_or_during_a_stockout(realism):
    plan, fills = realism
    assert len(plan.stockouts) >= 1
    for location, f in enumerate(fills):
        sold = f.quantity > 0
        assert not np.any(plan.open_factor[location, f.day[sold]] == 0)
        for s in plan.stockouts[plan.stockouts["location"] == location].itertuples():
            assert not np.any(sold & (f.drug == s.drug) & (f.day >= s.start_day) & (f.day <= s.end_day))
    everywhere = plan.closures[plan.closures["location_id"].isna()]
    assert {(d.month, d.day) for d in everywhere["date"]} >= {(12, 25), (1, 1)}


def test_lots_hold_the_recent_use_and_keep_their_numbers_from_one_count_to_the_next(realism):
    plan, fills = realism
    weekly = np.stack([recent_weekly_units(f, REALISM.drugs, REALISM.history_days - 1) for f in fills])
    end = stock_by_lot(plan, weekly, stream(REALISM, 3))
    later = stock_by_lot(plan, weekly, stream(REALISM, 4))
    assert not end.duplicated(["location_id", "drug_id", "lot"]).any()
    assert len(end.groupby(["location_id", "drug_id"])) == REALISM.locations * REALISM.drugs
    assert (end["units"] >= 0).all() and (end["on_order_units"] >= 0).all()
    expired = end[end["lot"].str.endswith("X")]
    assert (pd.to_datetime(expired["expiry_date"]) < pd.Timestamp(REALISM.end)).all()
    for kind in ("A", "X"):  # the lots themselves are the same in every count (second lots depend on the count)
        assert set(end.loc[end["lot"].str.endswith(kind), "lot"]) == set(later.loc[later["lot"].str.endswith(kind), "lot"])


def test_a_chain_shorter_than_a_year_is_generated():
    spec = ChainSpec(locations=1, drugs=10, years=0.4, end=date(2026, 11, 15))
    plan = plan_chain(spec)
    fills = location_fills(plan, 0)
    assert set(np.unique(fills.day)) <= set(range(len(plan.days)))
    assert set(np.unique(fills.drug[fills.day < spec.history_days])) == set(range(spec.drugs))


def test_the_files_load_through_the_pipeline_with_nothing_rejected(tmp_path, tiny_files):
    settings = make_settings(tmp_path / "csv")
    counts = pipeline.load_reference(settings, **tiny_files.reference(tiny_files.history))
    assert counts["catalog"] == TINY.drugs and counts["on_hand"] >= TINY.locations * TINY.drugs
    assert counts["stockouts"] >= 1 and counts["closures"] >= 1
    loads = pipeline.load_history(settings, [*tiny_files.history.csv, *tiny_files.week.csv])
    assert [r.rows_rejected for r in loads] == [0] * len(loads)
    assert sum(r.rows_loaded for r in loads) == tiny_files.history.rows + tiny_files.week.rows
    assert all(r.drugs_not_in_catalog == () and r.suspect_ndcs == () for r in loads)
    assert pipeline.load_reference(settings, **tiny_files.reference(tiny_files.week))["catalog"] == TINY.drugs
    assert pipeline.load_signals(settings, {"ilinet": tiny_files.week.ilinet})["ilinet"] > 52
    assert pipeline.build_demand(settings, TINY.end) == TINY.locations * TINY.drugs

    parquet = pipeline.load_history(make_settings(tmp_path / "parquet"), list(tiny_files.history.parquet))
    assert [r.rows_rejected for r in parquet] == [0] * len(parquet)
    assert sum(r.rows_loaded for r in parquet) == tiny_files.history.rows


def test_a_written_chain_is_found_again_only_for_its_own_spec_and_whole(tmp_path, tiny_files):
    assert read_chain(tiny_files.directory, TINY) == tiny_files
    assert read_chain(tiny_files.directory, replace(TINY, seed=6)) is None
    assert read_chain(tmp_path / "elsewhere", TINY) is None
    cut = write_chain(TINY, tmp_path / "cut")
    cut.history.csv[0].write_bytes(cut.history.csv[0].read_bytes()[:100])  # an interrupted copy
    assert read_chain(cut.directory, TINY) is None


def test_a_chain_of_several_weeks_writes_each_week_apart_and_together_they_are_the_one_draw(tmp_path, tiny_files):
    spec = replace(TINY, week_days=21)
    files = write_chain(spec, tmp_path / "weeks")
    assert [w.as_of for w in files.weeks] == [date(2026, 11, 22), date(2026, 11, 29), date(2026, 12, 6)]
    assert files.week == files.weeks[0] and files.weeks[0].csv[0].parent.name == "week"
    for k, week in enumerate(files.weeks):
        days = pd.concat(pd.read_csv(p, parse_dates=["dispensed_at"]) for p in week.csv)["dispensed_at"].dt.date
        first = date(2026, 11, 16) if k == 0 else files.weeks[k - 1].as_of
        assert len(days) == week.rows > 0 and days.min() >= first and days.max() <= week.as_of
        assert week.on_hand.is_file() and week.ilinet.is_file()
    assert read_chain(tmp_path / "weeks", spec).weeks == files.weeks  # found again, every week
    # the history is the same draw's days through the end, whatever follows them
    history = pd.concat(pd.read_csv(p) for p in files.history.csv)
    assert history["dispensed_at"].max() < "2026-11-16" and len(history) == files.history.rows
