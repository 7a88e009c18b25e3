"""What a run plans: the locations of its history files, and an as-of date inside the dispensing held."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from tests.conftest import make_settings
from turnover import pipeline
from turnover.io.demand import read_series
from turnover.io.scope import AsOfError
from turnover.io.warehouse import open_warehouse


def export(path, location: str, first: date, last: date, drugs=("D1", "D2")):
    """A daily dispensing export: one unit of each drug a day at ``location``."""
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    path.write_text("dispensed_at,location_id,drug_id,quantity\n"
                    + "".join(f"{d},{location},{drug},1\n" for d in days for drug in drugs))
    return path


@pytest.fixture
def two_pharmacies(tmp_path):
    """A warehouse holding a pharmacy that stopped a year and a half ago (OLD) and one loaded now (NEW)."""
    settings = make_settings(tmp_path)
    old = pipeline.load_history(settings, [export(tmp_path / "old.csv", "OLD", date(2023, 6, 1), date(2025, 6, 1),
                                                  ("D1", "D2", "D3"))])
    new = pipeline.load_history(settings, [export(tmp_path / "new.csv", "NEW", date(2024, 1, 1), date(2026, 11, 22))])
    return settings, old, new


def planned(settings) -> set[tuple[str, str]]:
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return set(zip(*read_series(con)[["location_id", "drug_id"]].T.values, strict=True))


def test_a_run_given_history_plans_only_its_locations_and_warns_of_the_others(two_pharmacies):
    settings, _, new = two_pharmacies
    locations, warnings = pipeline.run_scope(settings, new)
    assert locations == ["NEW"]
    assert len(warnings) == 1 and "1 location(s) not in this run's history (OLD): not planned" in warnings[0]
    as_of = pipeline.resolve_as_of(settings, None, locations=locations)
    assert pipeline.build_demand(settings, as_of, locations) == 2
    assert planned(settings) == {("NEW", "D1"), ("NEW", "D2")}


def test_a_run_without_history_plans_the_locations_that_dispensed_in_the_last_year(two_pharmacies):
    settings, _, _ = two_pharmacies
    assert pipeline.run_scope(settings, []) == (None, [])
    pipeline.build_demand(settings, date(2026, 11, 22))
    assert {location for location, _ in planned(settings)} == {"NEW"}  # OLD: nothing since June 2025
    pipeline.build_demand(settings, date(2025, 5, 31))
    assert {location for location, _ in planned(settings)} == {"NEW", "OLD"}


def test_a_run_of_one_pharmacy_alone_has_no_warning(two_pharmacies, tmp_path):
    settings = make_settings(tmp_path / "alone")
    loads = pipeline.load_history(settings, [tmp_path / "new.csv"])
    assert pipeline.run_scope(settings, loads) == (["NEW"], [])


@pytest.mark.parametrize("as_of, message", [
    (date(2027, 11, 29), r"--as-of 2027-11-29 is after the last dispensing day in .*warehouse\.duckdb \(2026-11-22\) "
                         r"by more than 13 days .*; the warehouse holds 2023-06-01 \.\. 2026-11-22"),
    (date(1900, 1, 1), r"--as-of 1900-01-01 is before the first dispensing day in .* \(2023-06-01\)"),
    (date(2999, 12, 31), r"--as-of 2999-12-31 is after the last dispensing day"),
])
def test_an_as_of_outside_the_dispensing_held_is_refused_with_the_range(two_pharmacies, as_of, message):
    settings, _, _ = two_pharmacies
    with pytest.raises(AsOfError, match=message):
        pipeline.resolve_as_of(settings, as_of, today=date(2026, 12, 7))


def test_an_as_of_a_few_days_after_the_data_is_a_run_for_the_week_just_ended(two_pharmacies):
    settings, _, _ = two_pharmacies
    assert pipeline.resolve_as_of(settings, date(2026, 11, 23), today=date(2026, 12, 7)) == date(2026, 11, 23)
    assert pipeline.resolve_as_of(settings, date(2026, 12, 5), today=date(2026, 12, 7)) == date(2026, 12, 5)


def test_an_as_of_on_an_empty_warehouse_says_to_load_history(tmp_path):
    with pytest.raises(AsOfError, match=r"--as-of 2026-11-22 given, but no dispensing loaded in .*: give --history"):
        pipeline.resolve_as_of(make_settings(tmp_path), date(2026, 11, 22))


@pytest.mark.parametrize("as_of, message", [
    ("2027-11-29", r"^turnover: error: --as-of 2027-11-29 is after the last dispensing day in \S+ \(2026-11-22\) .*"
                   r"the warehouse holds 2023-06-01 \.\. 2026-11-22$"),
    ("1900-01-01", r"^turnover: error: --as-of 1900-01-01 is before the first dispensing day"),
])
def test_the_command_refuses_an_as_of_outside_the_data_in_one_line_before_prefect_starts(
        two_pharmacies, as_of, message, capsys):
    from flows import cli

    settings = two_pharmacies[0]
    assert cli.main(["run", "--db", str(settings.warehouse_path), "--out", str(settings.output_dir),
                     "--as-of", as_of]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.match(message, err)


def test_the_command_refuses_an_as_of_on_a_fresh_warehouse(tmp_path, capsys):
    from flows import cli

    assert cli.main(["run", "--db", str(tmp_path / "new.duckdb"), "--as-of", "2026-11-22"]) == 2
    assert "no dispensing loaded" in capsys.readouterr().err
    assert not (tmp_path / "new.duckdb").exists()



def test_stock_and_recalls_at_locations_not_planned_are_not_counted(two_pharmacies, tmp_path):
    settings, _, new = two_pharmacies
    on_hand = tmp_path / "lots.csv"
    on_hand.write_text("location_id,drug_id,lot,expiry_date,units\nOLD,45963067611,3502407A,2027-07-31,410\n"
                       "NEW,D1,L2,2027-06-01,9\n")
    recalls = tmp_path / "recalls.json"  # the demo's recall of that lot, in the openFDA form
    recalls.write_text(json.dumps({"results": [{
        "recall_number": "D-0355-2026", "classification": "Class II", "status": "Ongoing",
        "reason_for_recall": "Failed Dissolution Specifications", "product_description": "Metoprolol",
        "code_info": "Lot #: 3502407A, Exp. 07/2027", "openfda": {"package_ndc": ["45963-676-11"]}}]}))
    pipeline.load_reference(settings, on_hand=on_hand, recalls=recalls)
    locations, _ = pipeline.run_scope(settings, new)
    as_of = pipeline.resolve_as_of(settings, None, locations=locations)
    pipeline.start_run(settings, "run", as_of)
    pipeline.build_demand(settings, as_of, locations)
    pipeline.forecast(settings, "run", as_of)
    pipeline.set_par_levels(settings, "run", as_of)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        lots = con.execute("select location_id, lot from marts.lots where run_id = 'run'").fetchall()
        quarantined = con.execute("select count(*) from marts.quarantine where run_id = 'run'").fetchone()[0]
    assert lots == [("NEW", "L2")] and quarantined == 0
