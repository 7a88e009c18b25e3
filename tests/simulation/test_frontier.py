"""The efficient frontiers' arithmetic on hand-made curves whose answer is known (turnover.simulation.frontier), and their PNG."""

from __future__ import annotations

import re
import shutil
import struct

import numpy as np
import pandas as pd
import pytest

from flows import cli
from flows.cli_commands import format_frontier
from tests.conftest import REPO
from turnover.simulation.frontier import (
    FRONTIER_COLUMNS,
    SAVINGS_COLUMNS,
    FrontierSettings,
    common_range,
    envelope,
    frontier_table,
    has_value,
    headline,
    on_hand_at,
    saving_at,
    savings,
)
from turnover.simulation.frontier_chart import frontier_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
READ_AT = FrontierSettings().read_at  # 97%, 98%, 99%


def curve(policy: str, fill_rates, units, values=None, knob: str = "k") -> pd.DataFrame:
    """A policy's sweep as frontier rows: one point per fill rate, knob values 0, 1, 2, ...; no value without
    ``values``."""
    n = len(fill_rates)
    return pd.DataFrame({
        "policy": policy, "knob": knob, "knob_value": np.arange(n, dtype=float),
        "fill_rate": np.asarray(fill_rates, dtype=float), "cycle_service_level": np.asarray(fill_rates) - 0.03,
        "avg_on_hand_units": np.asarray(units, dtype=float),
        "avg_on_hand_value": np.full(n, np.nan) if values is None else np.asarray(values, dtype=float),
        "units_expired": 1.0, "value_expired": np.nan if values is None else 2.0,
        # the fill rate of value: here the same as of units (a frontier without costs has none)
        "fill_rate_value": np.full(n, np.nan) if values is None else np.asarray(fill_rates, dtype=float),
    })[FRONTIER_COLUMNS]


def minmax_line(fill_rate):
    """Min/max's stock, a straight line in the fill rate (so reading it between points is exact)."""
    return 1_000.0 + 20_000.0 * (np.asarray(fill_rate, dtype=float) - 0.90)


def thirty_percent_less() -> pd.DataFrame:
    """Min/max on a line, turnover at 70% of that line at its own (different) fill rates; value = 3 x units."""
    theirs_f = np.array([0.90, 0.93, 0.96, 0.985, 1.00])
    ours_f = np.array([0.92, 0.95, 0.97, 0.975, 0.99, 0.995])
    return pd.concat([curve("turnover", ours_f, 0.7 * minmax_line(ours_f), 2.1 * minmax_line(ours_f)),
                      curve("minmax_flat365", theirs_f, minmax_line(theirs_f), 3.0 * minmax_line(theirs_f))],
                     ignore_index=True)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the IHDR chunk right after the signature."""
    return struct.unpack(">II", png[16:24])


# --- saving at equal fill rate -------------------------------------------------------------------------------

def test_turnover_holding_30_percent_less_at_every_fill_rate_saves_030_at_every_read_point():
    frontier = thirty_percent_less()
    assert saving_at(frontier, "minmax_flat365", READ_AT, "units") == pytest.approx([0.30] * 3)
    assert saving_at(frontier, "minmax_flat365", READ_AT, "value") == pytest.approx([0.30] * 3)
    both = savings(frontier)
    # read at equal fill rate of units and of value (here the same curves: the same savings)
    assert both["fill_basis"].value_counts().to_dict() == {"units": 9, "value": 9}
    saved = both[both["fill_basis"] == "units"]
    pd.testing.assert_frame_equal(saved.drop(columns="fill_basis").reset_index(drop=True),
                                  both[both["fill_basis"] == "value"].drop(columns="fill_basis").reset_index(drop=True))
    # every point of either curve inside 92% .. 99.5%: 6 of turnover's, 3 of min/max's (93%, 96%, 98.5%)
    assert saved["point_of"].value_counts().to_dict() == {"turnover": 6, "minmax_flat365": 3}
    assert saved["saving_units_share"].to_numpy() == pytest.approx([0.30] * 9)
    assert saved["saving_value_share"].to_numpy() == pytest.approx([0.30] * 9)
    # min/max read between its own points (at turnover's 97%): on its line, not at a neighbour
    at_97 = saved[(saved["point_of"] == "turnover") & np.isclose(saved["fill_rate"], 0.97)]
    assert at_97["baseline_on_hand_units"].item() == pytest.approx(1_000 + 20_000 * 0.07)


def units_lines(lines: list[str]) -> list[str]:
    """The headline's sentences read at equal fill rate of units (those of value follow them)."""
    return [line for line in lines if "fill rate of value" not in line]


def test_the_headline_says_how_much_less_stock_value_at_the_same_fill_rate():
    assert headline(thirty_percent_less()) == [
        "at the same fill rate, turnover holds 30% less stock value than min/max "
        "(at 97% fill; 30% less at 98%; 30% less at 99%)",
        "at the same fill rate of value (units weighed by cost), turnover holds 30% less stock value than min/max "
        "(at 97% fill; 30% less at 98%; 30% less at 99%)"]


def test_the_headline_says_more_when_turnover_holds_more_and_reads_half_points_with_their_decimal():
    frontier = thirty_percent_less()
    ours = frontier["policy"] == "turnover"
    frontier.loc[ours, ["avg_on_hand_units", "avg_on_hand_value"]] *= 2.0  # 1.4 x min/max's: 40% more
    assert units_lines(headline(frontier, (0.975, 0.995))) == [
        "at the same fill rate, turnover holds 40% more stock value than min/max (at 97.5% fill; 40% more at 99.5%)"]


def test_each_baseline_gets_its_own_headline_sentence_under_its_plain_name():
    frontier = thirty_percent_less()
    days = curve("days_of_supply", [0.90, 1.00], [2_000, 4_000], [6_000, 12_000], knob="days")
    lines = units_lines(headline(pd.concat([frontier, days], ignore_index=True)))
    assert [line.split(" than ")[1].split(" (")[0] for line in lines] == ["min/max", "days of supply"]


# --- the efficient envelope ----------------------------------------------------------------------------------

def test_a_point_with_more_stock_and_no_better_fill_is_left_out_of_the_envelope():
    fill_rate = [0.90, 0.95, 0.96, 0.99, 0.95, np.nan]
    on_hand = [100.0, 150.0, 170.0, 160.0, 180.0, 1.0]  # 96% at 170: 99% fills more with 160
    f, y = envelope(fill_rate, on_hand)
    assert f.tolist() == [0.90, 0.95, 0.99]
    assert y.tolist() == [100.0, 150.0, 160.0]  # 95% at 180: the same fill as 150, more stock; NaN: no point
    # read at 96%: between 95% and 99% on the envelope, not the dominated 170
    assert on_hand_at(fill_rate, on_hand, [0.96]) == pytest.approx([152.5])


def test_a_dominated_lowest_point_is_read_at_the_stock_of_the_first_efficient_one():
    # 90% with 120 units: 95% fills more with 100, so the least stock that fills at least 90% is 100
    ours = curve("turnover", [0.90, 0.95, 0.99], [120.0, 100.0, 130.0])
    theirs = curve("minmax_flat365", [0.90, 0.99], [200.0, 300.0])
    assert on_hand_at(ours["fill_rate"], ours["avg_on_hand_units"], [0.90, 0.92]) == pytest.approx([100.0, 100.0])
    saved = savings(pd.concat([ours, theirs], ignore_index=True))
    assert saved["saving_units_share"].notna().all()
    assert saved.loc[np.isclose(saved["fill_rate"], 0.90), "saving_units_share"].to_numpy() == pytest.approx([0.5, 0.5])


def test_reading_outside_a_curves_fill_rates_gives_nan():
    assert np.isnan(on_hand_at([0.95, 0.98], [10.0, 20.0], [0.94, 0.99])).all()
    assert on_hand_at([0.95, 0.98], [10.0, 20.0], [0.95, 0.965, 0.98]) == pytest.approx([10.0, 15.0, 20.0])
    assert np.isnan(on_hand_at([np.nan], [np.nan], [0.97])).all()


# --- where the curves overlap --------------------------------------------------------------------------------

def test_curves_that_do_not_overlap_are_not_read_and_the_headline_says_so():
    frontier = pd.concat([curve("turnover", [0.90, 0.95], [50, 60]),
                          curve("minmax_flat365", [0.96, 0.99], [80, 90])], ignore_index=True)
    assert common_range([0.90, 0.95], [0.96, 0.99]) is None
    assert np.isnan(saving_at(frontier, "minmax_flat365", READ_AT, "units")).all()
    saved = savings(frontier)
    assert saved.empty and list(saved.columns) == SAVINGS_COLUMNS
    assert headline(frontier) == ["at the same fill rate, turnover vs min/max: not read at 97%, 98%, 99% "
                                  "(the curves do not overlap)"]


def test_curves_that_overlap_below_the_read_points_say_where_they_overlap():
    frontier = pd.concat([curve("turnover", [0.90, 0.96], [50, 60]),
                          curve("minmax_flat365", [0.95, 0.99], [80, 90])], ignore_index=True)
    assert common_range([0.90, 0.96], [0.95, 0.99]) == pytest.approx((0.95, 0.96))
    assert np.isnan(saving_at(frontier, "minmax_flat365", READ_AT, "units")).all()  # 97-99%: turnover stops at 96%
    saved = savings(frontier)
    assert saved["fill_rate"].between(0.95, 0.96).all() and len(saved) == 2  # turnover's 96%, min/max's 95%
    assert headline(frontier) == ["at the same fill rate, turnover vs min/max: not read at 97%, 98%, 99% "
                                  "(the curves overlap only at fill rates 95.0% to 96.0%)"]


# --- no unit costs -------------------------------------------------------------------------------------------

def no_costs() -> pd.DataFrame:
    frontier = thirty_percent_less()
    return frontier.assign(avg_on_hand_value=np.nan, value_expired=np.nan, fill_rate_value=np.nan)


def test_without_unit_costs_the_headline_is_in_units_and_the_unit_shares_are_numbers():
    frontier = no_costs()
    assert has_value(thirty_percent_less()) and not has_value(frontier)
    assert headline(frontier) == [
        "at the same fill rate, turnover holds 30% less stock (units; no unit costs) than min/max "
        "(at 97% fill; 30% less at 98%; 30% less at 99%)"]
    saved = savings(frontier)
    assert saved["saving_units_share"].to_numpy() == pytest.approx([0.30] * len(saved))
    assert saved["saving_value_share"].isna().all()


def test_the_printed_frontier_leads_with_the_headline_and_shows_no_value_without_costs():
    printed = format_frontier(no_costs())
    assert printed.startswith("at the same fill rate, turnover holds 30% less stock (units; no unit costs)")
    assert "vs min/max, units" in printed and "vs min/max, value" not in printed
    assert "avg_on_hand_value" not in printed and "nan" not in printed.lower()
    with_costs = format_frontier(thirty_percent_less())
    assert "vs min/max, value" in with_costs and "avg_on_hand_value" in with_costs
    assert "+30.0%" in with_costs


# --- the tables' columns and order ---------------------------------------------------------------------------

def test_the_frontier_table_has_the_frontier_columns_by_policy_then_knob_value():
    totals = pd.DataFrame({
        "policy": ["days_of_supply", "minmax_flat365", "turnover", "turnover", "minmax_flat365"],
        "series": 3, "demand_units": 100.0, "served_units": 95.0, "stockout_weeks": 1, "turns": 12.0,
        "knob": ["days", "z", "service_level", "service_level", "z"],
        "knob_value": [14.0, 1.0, 0.99, 0.90, -0.5],
        "fill_rate": [0.99, 0.97, 0.98, 0.95, 0.93], "cycle_service_level": 0.9,
        "avg_on_hand_units": [40.0, 30.0, 25.0, 20.0, 15.0], "avg_on_hand_value": np.nan,
        "expired_units": [1.0, 2.0, 3.0, 4.0, 5.0], "expired_value": np.nan,
    })
    table = frontier_table(totals)
    assert list(table.columns) == FRONTIER_COLUMNS
    assert list(zip(table["policy"], table["knob_value"], strict=True)) == [
        ("turnover", 0.90), ("turnover", 0.99), ("minmax_flat365", -0.5), ("minmax_flat365", 1.0),
        ("days_of_supply", 14.0)]
    assert table["units_expired"].tolist() == [4.0, 3.0, 5.0, 2.0, 1.0]  # renamed, and moved with its row


def test_the_savings_have_the_savings_columns_by_baseline_then_fill_rate():
    days = curve("days_of_supply", [0.90, 1.00], [2_000, 4_000], [6_000, 12_000], knob="days")
    frontier = pd.concat([days, thirty_percent_less()], ignore_index=True)
    saved = savings(frontier)
    assert list(saved.columns) == SAVINGS_COLUMNS
    assert saved["baseline"].drop_duplicates().tolist() == ["days_of_supply", "minmax_flat365"]
    assert saved["fill_basis"].drop_duplicates().tolist() == ["units", "value"]
    for _, rows in saved.groupby(["fill_basis", "baseline"]):
        assert rows["fill_rate"].is_monotonic_increasing


def documented_columns(file_name: str) -> list[str]:
    """The columns docs/replay.md's table after "`<file_name>`:" lists, in order."""
    text = (REPO / "docs" / "replay.md").read_text(encoding="utf-8")
    after = text.split(f"`{file_name}`:", 1)[1]
    table = after.split("\n\n| column |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def test_the_replay_docs_list_the_frontier_files_columns_in_order():
    assert documented_columns("replay_<from>_<to>_frontier.csv") == FRONTIER_COLUMNS
    assert documented_columns("replay_<from>_<to>_frontier_savings.csv") == SAVINGS_COLUMNS


# --- the PNG -------------------------------------------------------------------------------------------------

def test_the_chart_is_a_png_with_a_value_panel_beside_the_units_one_when_there_are_costs():
    with_values = frontier_png(thirty_percent_less(), "a title")
    units_only = frontier_png(no_costs())
    assert with_values.startswith(PNG_SIGNATURE) and units_only.startswith(PNG_SIGNATURE)
    (width_two, height_two), (width_one, height_one) = png_size(with_values), png_size(units_only)
    assert width_two == 2 * width_one and height_two == height_one  # 5.2 in a panel at 100 dpi, 4 in high


# --- through the command line, on the demo -------------------------------------------------------------------

#: Two weekly reviews (Mondays 9 and 16 November) ending on the demo's last day of dispensing.
REPLAY_FROM, REPLAY_TO = "2026-11-09", "2026-11-22"


@pytest.mark.slow
def test_turnover_replay_frontier_writes_the_curves_beside_the_totals_and_prints_the_saving_first(
        demo_warehouse, tmp_path, capsys):
    # a copy: the replay rebuilds the demand series, which other tests read from the fixture's warehouse
    shutil.copy(demo_warehouse["path"], tmp_path / "warehouse.duckdb")
    out = tmp_path / "out"
    code = cli.main(["replay", "--from", REPLAY_FROM, "--to", REPLAY_TO, "--frontier", "--config",
                     str(REPO / "turnover.toml"), "--db", str(tmp_path / "warehouse.duckdb"), "--out", str(out)])
    printed, errors = capsys.readouterr()
    assert code == 0, errors

    stem = f"replay_{REPLAY_FROM}_{REPLAY_TO}"
    names = {p.name for p in out.iterdir()}
    assert {f"{stem}.csv", f"{stem}_totals.csv", f"{stem}_frontier.csv", f"{stem}_frontier_savings.csv",
            f"{stem}_frontier.png"} <= names
    assert (out / f"{stem}_frontier.png").read_bytes().startswith(PNG_SIGNATURE)

    frontier = pd.read_csv(out / f"{stem}_frontier.csv", encoding="utf-8-sig")
    assert list(frontier.columns) == FRONTIER_COLUMNS
    expected = {(policy, value) for policy, (_, values) in FrontierSettings().knobs().items() for value in values}
    assert len(frontier) == len(expected)
    assert set(zip(frontier["policy"], frontier["knob_value"], strict=True)) == expected
    # a higher target for every drug never fills less (the table as written, 3 decimals)
    ours = frontier[frontier["policy"] == "turnover"].sort_values("knob_value")
    assert ours["fill_rate"].is_monotonic_increasing, ours[["knob_value", "fill_rate"]].to_string()
    saved = pd.read_csv(out / f"{stem}_frontier_savings.csv", encoding="utf-8-sig")
    assert list(saved.columns) == SAVINGS_COLUMNS

    frontier_part = printed.split("\n", 1)[1]  # after the line "replay  <from> .. <to>: ..."
    # the headline first: the saving, or (two weeks: the curves may not meet) where they overlap
    assert frontier_part.startswith("at the same fill rate, turnover "), printed
    assert "turnover holds" in frontier_part or "overlap" in frontier_part.split("\n", 1)[0], printed

    # the totals' names are a contract with whoever sweeps the replay from outside (issue 14)
    totals = pd.read_csv(out / f"{stem}_totals.csv", encoding="utf-8-sig")
    assert {"policy", "fill_rate", "avg_on_hand_units"} <= set(totals.columns)
    assert {"turnover", "minmax_flat365"} <= set(totals["policy"])
