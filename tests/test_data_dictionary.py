"""docs/outputs.md documents every file a run writes and every column of each, and no column a file lacks.

The dictionary is read from the markdown: one ``## `<file name>` `` section per file, with a table whose rows start
with the column name in backticks (or a line ``Columns: as `<other file>`.``). ``<as-of>``, ``<from>``, ``<to>``,
``<location>`` and ``<week start>`` stand for the parts of names that vary.
"""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import LATE_NOVEMBER, REPO
from turnover import pipeline

DICTIONARY = REPO / "docs" / "outputs.md"
PLACEHOLDERS = {"as-of": r"\d{4}-\d{2}-\d{2}", "from": r"\d{4}-\d{2}-\d{2}", "to": r"\d{4}-\d{2}-\d{2}",
                "week start": r"\d{4}-\d{2}-\d{2}", "location": r"[^/]+"}
REPLAY_FROM, REPLAY_TO = date(2026, 11, 9), LATE_NOVEMBER  # two weekly reviews: enough to write both files


def as_regex(name: str) -> re.Pattern:
    """A documented name with its ``<placeholders>`` as the pattern of the names it stands for."""
    parts = re.split(r"(<[^>]+>)", name)
    return re.compile("".join(PLACEHOLDERS[p[1:-1]] if p.startswith("<") else re.escape(p) for p in parts))


def read_dictionary() -> dict[str, list[tuple[str, ...]]]:
    """``{documented file name: table rows (column, unit, meaning, empty when)}``; a file with no table of its own
    (``Columns: as `other```) gets the other file's rows."""
    files: dict[str, list[tuple[str, ...]]] = {}
    same_as: dict[str, str] = {}
    for section in re.split(r"^## ", DICTIONARY.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        name = re.fullmatch(r"`([^`]+)`", title.strip())
        assert name, f"a section of {DICTIONARY.name} is not named for a file: {title!r}"
        rows = [tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
                for line in body.splitlines() if line.startswith("| `")]
        files[name.group(1)] = rows
        if other := re.search(r"^Columns: as `([^`]+)`", body, flags=re.MULTILINE):
            same_as[name.group(1)] = other.group(1)
    for name, other in same_as.items():
        files[name] = files[other]
    return files


def header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def written(demo_warehouse, tmp_path_factory) -> dict[str, Path]:
    """Every file the demo's three runs wrote, and a short replay's, by name relative to their output folder.

    The replay runs on a copy of the warehouse: it rebuilds the demand series, which other tests read."""
    settings = demo_warehouse["settings"]
    out = Path(settings.output_dir)
    files = {str(p.relative_to(out)): p for paths in demo_warehouse["outputs"].values() for p in paths}
    root = tmp_path_factory.mktemp("dictionary")
    shutil.copy(settings.warehouse_path, root / "warehouse.duckdb")
    copy = settings.model_copy(update={"warehouse_path": root / "warehouse.duckdb", "output_dir": root / "out"})
    _, replayed = pipeline.replay(copy, REPLAY_FROM, REPLAY_TO)
    files |= {p.name: p for p in replayed}
    return files


def documented_file(name: str, dictionary: dict) -> str:
    matches = [doc for doc in dictionary if as_regex(doc).fullmatch(name)]
    assert len(matches) == 1, f"{name}: documented as {matches} in {DICTIONARY.name} (want exactly one section)"
    return matches[0]


def test_every_table_row_names_a_column_its_unit_its_meaning_and_when_it_is_empty():
    dictionary = read_dictionary()
    assert len(dictionary) == 11
    for name, rows in dictionary.items():
        if name.endswith(".html"):
            assert rows == [], name
            continue
        assert rows, f"{name} has no columns documented"
        for row in rows:
            assert len(row) == 4 and all(row), (name, row)
            assert re.fullmatch(r"`[^`]+`", row[0]), (name, row)
        columns = [row[0] for row in rows]
        assert len(set(columns)) == len(columns), f"{name} documents a column twice"


def test_every_file_a_run_writes_is_documented_and_every_documented_file_is_written(written):
    dictionary = read_dictionary()
    seen = {documented_file(name, dictionary) for name in written}
    assert seen == set(dictionary), f"documented but never written: {sorted(set(dictionary) - seen)}"


def test_the_columns_of_every_csv_written_are_the_documented_ones_in_order(written):
    dictionary = read_dictionary()
    for name, path in sorted(written.items()):
        if path.suffix != ".csv":
            continue
        documented = [as_regex(row[0].strip("`")) for row in dictionary[documented_file(name, dictionary)]]
        columns = header(path)
        undocumented = [c for c in columns if not any(p.fullmatch(c) for p in documented)]
        assert not undocumented, f"{name}: columns not in {DICTIONARY.name}: {undocumented}"
        missing = [p.pattern for p in documented if not any(p.fullmatch(c) for c in columns)]
        assert not missing, f"{name}: documented in {DICTIONARY.name} but not written: {missing}"
        # In the documented order (a pattern such as par_<week start> covers a run of columns).
        order = [next(i for i, p in enumerate(documented) if p.fullmatch(c)) for c in columns]
        assert order == sorted(order), f"{name}: columns not in the documented order"
