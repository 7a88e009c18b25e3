"""A synthetic chain (:mod:`turnover.demo.chain`) written as the files a chain would send, and found again.

A chain directory::

    manifest.json                   the spec and generator version; rows and bytes of every file (written last)
    catalog.csv  stockouts.csv  closures.csv
    history/dispensing_<store>.csv  one per location through ``end``: dispensed_at (timestamp), location_id,
                                    drug_id (11-digit NDC), drug_name, quantity (negative: a return)
    history/dispensing_<store>.parquet           the same rows, typed
    history/on_hand.csv  history/ilinet.csv      stock by lot at the end of ``end``; the flu signal (FluView)
    week/dispensing_<store>_<first>_<last>.csv   the week after ``end`` (and .parquet)
    week/on_hand.csv  week/ilinet.csv            as counted at the end of that week
    week_<k>/...                                 week k after ``end`` (k = 02, 03, ...), when the spec runs on
                                                 more than one week (``week_days`` a multiple of 7): a year of
                                                 Mondays (``benchmarks/steady.py``)

Written one location at a time from numpy arrays (ids as categoricals, never a string per row) by
DuckDB's CSV and Parquet writers, so memory stays at one location's fills.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from turnover.demo.chain import (
    GENERATOR_VERSION,
    ChainPlan,
    ChainSpec,
    Fills,
    location_fills,
    plan_chain,
    recent_weekly_units,
    stock_by_lot,
    stream,
)
from turnover.demo.files import write_fluview

CATALOG_COLUMNS = ("drug_id", "drug_name", "pack_size_units", "unit_cost", "lead_time_days", "shelf_life_days",
                   "criticality", "generic_name", "atc_code")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class FileSet:
    """The files of one weekly load: dispensing per location (CSV, and the same rows as Parquet), the stock
    count and the flu signal as of ``as_of``."""

    csv: tuple[Path, ...]
    parquet: tuple[Path, ...]
    on_hand: Path
    ilinet: Path
    rows: int
    as_of: date


@dataclass(frozen=True)
class ChainFiles:
    """A written chain: the history through ``spec.end``, the weeks after it (``week``: the first), and the shared
    reference files."""

    directory: Path
    spec: ChainSpec
    history: FileSet
    weeks: tuple[FileSet, ...]
    catalog: Path
    stockouts: Path
    closures: Path
    generated_seconds: float

    @property
    def week(self) -> FileSet:
        """The week after ``spec.end``."""
        return self.weeks[0]

    def reference(self, files: FileSet) -> dict[str, Path]:
        """The reference files of a load, as ``pipeline.load_reference`` takes them."""
        return {"catalog": self.catalog, "on_hand": files.on_hand, "stockouts": self.stockouts,
                "closures": self.closures}

    def all_paths(self) -> list[Path]:
        sets = (self.history, *self.weeks)
        return [*(p for s in sets for p in (*s.csv, *s.parquet, s.on_hand, s.ilinet)), self.catalog, self.stockouts,
                self.closures]


def week_ends(spec: ChainSpec) -> list[date]:
    """The last day of each load after ``spec.end``: weekly, the last one ``spec.week_end`` (a shorter ``week_days``
    than 7 is one load)."""
    n = max(1, spec.week_days // 7)
    return [spec.end + timedelta(days=7 * (k + 1)) for k in range(n - 1)] + [spec.week_end]


def chain_files(directory: str | Path, spec: ChainSpec, rows: tuple[int, ...] = (), seconds: float = 0.0) -> ChainFiles:
    """Where the files of ``spec`` are (or will be) in ``directory``; ``rows``: of the history, then of each week."""
    d = Path(directory)
    stores = [f"store{i + 1:03d}" for i in range(spec.locations)]
    ends = week_ends(spec)
    rows = tuple(rows) or (0,) * (1 + len(ends))

    def file_set(folder: str, suffix: str, n_rows: int, as_of: date) -> FileSet:
        stems = [d / folder / f"dispensing_{s}{suffix}" for s in stores]
        return FileSet(tuple(p.with_suffix(".csv") for p in stems), tuple(p.with_suffix(".parquet") for p in stems),
                       d / folder / "on_hand.csv", d / folder / "ilinet.csv", n_rows, as_of)

    weeks = []
    for k, last in enumerate(ends):
        first = (ends[k - 1] if k else spec.end) + timedelta(days=1)
        folder = "week" if k == 0 else f"week_{k + 1:02d}"
        weeks.append(file_set(folder, f"_{first.isoformat()}_{last.isoformat()}", rows[1 + k], last))
    return ChainFiles(d, spec, file_set("history", "", rows[0], spec.end), tuple(weeks),
                      d / "catalog.csv", d / "stockouts.csv", d / "closures.csv", seconds)


def write_chain(spec: ChainSpec, directory: str | Path) -> ChainFiles:
    """Generate ``spec`` and write every file of it into ``directory`` (the manifest last); returns the paths."""
    start = time.perf_counter()
    plan = plan_chain(spec)
    files = chain_files(directory, spec)
    sets = (files.history, *files.weeks)
    for file_set in sets:
        file_set.on_hand.parent.mkdir(parents=True, exist_ok=True)
    weekly = [np.zeros((spec.locations, spec.drugs)) for _ in sets]  # recent use at each set's as-of date
    rows = [0] * len(sets)
    last_days = np.array([(s.as_of - spec.first_day).days for s in sets])
    con = duckdb.connect()
    try:
        for location in range(spec.locations):
            fills = location_fills(plan, location)
            which = np.searchsorted(last_days, fills.day)  # the load each fill's day falls in
            for k, file_set in enumerate(sets):
                frame = dispensing_frame(plan, location, fills, which == k)
                _write(con, frame, file_set.csv[location])
                _write(con, frame, file_set.parquet[location])
                rows[k] += len(frame)
                weekly[k][location] = recent_weekly_units(fills, spec.drugs, last_days[k])
        for key, (file_set, units) in enumerate(zip(sets, weekly, strict=True)):
            # streams 3 (history) and 4 (first week) as before; later weeks' counts from streams of their own
            _write(con, stock_by_lot(plan, units, stream(spec, 3 + key if key < 2 else 1000 + key)), file_set.on_hand)
            write_fluview(plan.flu[: pd.Timestamp(file_set.as_of)], file_set.ilinet)
        _write(con, plan.drugs[list(CATALOG_COLUMNS)], files.catalog)
        _write(con, plan.stockouts[["location_id", "drug_id", "start", "end"]], files.stockouts)
        _write(con, plan.closures, files.closures)
    finally:
        con.close()
    files = chain_files(directory, spec, tuple(rows), round(time.perf_counter() - start, 2))
    _write_manifest(files)
    return files


def dispensing_frame(plan: ChainPlan, location: int, fills: Fills, rows: np.ndarray) -> pd.DataFrame:
    """The canonical export of a location's fills selected by ``rows`` (a mask), with timestamps to the minute."""
    when = (np.datetime64(plan.spec.first_day, "m") + fills.day[rows].astype("timedelta64[D]")
            + fills.minute[rows].astype("timedelta64[m]"))
    drug = fills.drug[rows]
    name_codes, names = pd.factorize(plan.drugs["drug_name"])  # two makers' packs of a drug may share a name
    return pd.DataFrame({
        "dispensed_at": when.astype("datetime64[s]"),
        "location_id": pd.Categorical.from_codes(np.zeros(len(drug), dtype=np.int8),
                                                 [plan.locations["location_id"].iat[location]]),
        "drug_id": pd.Categorical.from_codes(drug, plan.drugs["drug_id"]),
        "drug_name": pd.Categorical.from_codes(name_codes[drug], names),
        "quantity": fills.quantity[rows],
    })


def _write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, path: Path) -> None:
    relation = con.from_df(frame)
    if path.suffix == ".parquet":
        relation.write_parquet(str(path))
    else:
        relation.write_csv(str(path), header=True)


def _write_manifest(files: ChainFiles) -> None:
    spec = asdict(files.spec) | {"end": files.spec.end.isoformat()}
    manifest = {
        "generator_version": GENERATOR_VERSION, "spec": spec, "generated_seconds": files.generated_seconds,
        "rows": {"history": files.history.rows, "week": files.week.rows, "weeks": [w.rows for w in files.weeks]},
        "bytes": {str(p.relative_to(files.directory)): p.stat().st_size for p in files.all_paths()},
    }
    (files.directory / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def read_chain(directory: str | Path, spec: ChainSpec) -> ChainFiles | None:
    """The chain of ``spec`` written in ``directory`` before, or None when it is absent, incomplete, or was
    generated from another spec or generator version."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("generator_version") != GENERATOR_VERSION or manifest.get("spec") != (
            asdict(spec) | {"end": spec.end.isoformat()}):
        return None
    rows = manifest["rows"]
    files = chain_files(directory, spec, (rows["history"], *rows.get("weeks", [rows["week"]])), manifest["generated_seconds"])
    sizes = manifest["bytes"]
    if any(not p.is_file() or p.stat().st_size != sizes.get(str(p.relative_to(files.directory))) for p in files.all_paths()):
        return None
    return files


def file_bytes(paths) -> int:
    """Total size of ``paths`` in bytes."""
    return sum(Path(p).stat().st_size for p in paths)
