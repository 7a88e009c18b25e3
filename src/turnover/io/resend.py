"""Exports that overlap ones loaded before, corrected re-sends, and files a user says a new one replaces.

Two exports of one store and days are normal (an Rx system and an OTC till, a split by department), so
every rule is decided per location x drug x day: a file never replaces or rejects rows of a drug it
does not carry. Inside the load's transaction, on the staged rows ``_ingest_checked``:

- Replaced by name (``replaces``, the command line's ``--replaces``): every row the named earlier
  file still has loaded moves to ``raw.dispensing_rejects`` with the reason "replaced by <new file>
  (--replaces)".
- A corrected re-send has the same file name as an earlier one (other bytes: the same bytes are skipped
  before this). The earlier file's rows for the location x drug x days the new file carries move to
  ``raw.dispensing_rejects`` ("replaced by corrected re-send <path>"); its other rows stay. Another
  week's ``export.csv``, or a till's export of other drugs under the same name, replaces nothing.
- A row that another file loaded already (the same location, drug and day, and a time within that
  file's first-to-last time of that drug that day; rows dated without a time are all at midnight, so
  a drug's day loaded before is rejected whole) is rejected, naming that file
  (``sql/dispensing_overlap.sql``). A week sent twice under two names is not counted twice; a rolling
  "last 7 days" export loads only its new day.

Moved rows take their ledger counts with them (loaded -> rejected), so for every file read = loaded +
rejected still holds and nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from turnover import schema
from turnover.io.csv_files import IngestError
from turnover.io.warehouse import file_sha256, sql_text

# (sha256, path) of a file in the ledger
LedgerFile = tuple[str, str]
# (path of an earlier file, rows of it replaced, why: a note for the load line)
Replaced = tuple[str, int, str]
# The days and locations the staged good rows span (:func:`earlier_window`), as sql/dispensing_earlier.sql binds them.
WINDOW = ("first_day", "after_last_day", "first_location", "last_location")
# The staged keys a re-send replaces: rows of raw.dispensing ``d`` whose location x drug x day this file carries.
CARRIED = ("exists (select 1 from _ingest_keys k where k.location_id = d.location_id and k.drug_id = d.drug_id "
           "and k.day = cast(d.dispensed_at as date))")


def named_files(con, paths: Sequence[str | Path]) -> tuple[LedgerFile, ...]:
    """The ledger entries of the files ``paths`` name (for ``replaces``): the one with a file's present bytes,
    else the latest loaded under that path.

    Raises:
        IngestError: a path names no file ever loaded.
    """
    ledger = con.execute(f"select file_sha256, file_path from {schema.LOADED_FILES} order by loaded_at desc").fetchall()
    found = []
    for path in map(Path, paths):
        sha = file_sha256(path) if path.is_file() else None
        match = next((row for row in ledger if row[0] == sha), None) or next(
            (row for row in ledger if Path(row[1]) == path or Path(row[1]).resolve() == path.resolve()), None)
        if match is None:
            raise IngestError(f"{path}: --replaces names a file that was never loaded (not in {schema.LOADED_FILES}); "
                              "nothing loaded")
        found.append((match[0], match[1]))
    return tuple(found)


def still_loaded(con, files: Sequence[LedgerFile]) -> tuple[str, ...]:
    """The paths of ``files`` that still have rows in ``raw.dispensing``."""
    if not files:
        return ()
    loaded = {sha for (sha,) in con.execute(
        f"select file_sha256 from {schema.LOADED_FILES} where rows_loaded > 0 and list_contains($shas, file_sha256)",
        {"shas": [sha for sha, _ in files]}).fetchall()}
    return tuple(p for sha, p in files if sha in loaded)


def replace_named(con, path: Path, files: Sequence[LedgerFile]) -> list[Replaced]:
    """Move every row the ``files`` still have loaded to the rejects, replaced by ``path``."""
    notes = []
    for old_sha, old_path in files:
        moved = _move(con, old_sha, old_path, f"replaced by {path} (--replaces)")
        if moved:
            notes.append((old_path, moved, f"replaced all {moved} rows of {old_path} (--replaces)"))
    return notes


def earlier_window(con, file_id: int, staged: bool = True) -> dict[str, object] | None:
    """The days and locations the good rows of file ``file_id`` span (:data:`WINDOW`; the staged rows, or those it
    loaded into raw.dispensing already) when ``raw.dispensing`` holds a row of another file within them; None when it
    holds none (or no row is good). Every row a re-send replaces and every earlier row a new one overlaps lies in
    that window: without one, neither rule needs the staged keys (a first load, a new week)."""
    rows = "_ingest_checked where reason is null" if staged else f"{schema.DISPENSING} where file_id = $file_id"
    sql = f"select min(dispensed_at)::date, max(dispensed_at)::date + 1, min(location_id), max(location_id) from {rows}"
    bounds = con.execute(sql, {} if staged else {"file_id": file_id}).fetchone()
    if bounds[0] is None:
        return None
    window = dict(zip(WINDOW, bounds, strict=True))
    earlier = con.execute(
        f"select count(*) from (select 1 from {schema.DISPENSING} where dispensed_at >= $first_day and dispensed_at "
        "< $after_last_day and location_id between $first_location and $last_location and file_id <> $file_id "
        "limit 1)", window | {"file_id": file_id},
    ).fetchone()[0]
    return window if earlier else None


def replace_resent(con, path: Path, sha: str) -> list[Replaced]:
    """Apply the corrected re-send rule (module docstring) to the earlier files it replaces.

    Leaves ``_ingest_keys``, the location x drug x days of the staged good rows, for :func:`reject_overlaps`."""
    con.execute("create or replace temp table _ingest_keys as select distinct location_id, drug_id, "
                "cast(dispensed_at as date) as day from _ingest_checked where reason is null")
    ledger = con.execute(
        f"select file_sha256, file_path from {schema.LOADED_FILES} where rows_loaded > 0 order by loaded_at"
    ).fetchall()
    notes = []
    # Only a file of the same name can be re-sent: the others are never read here.
    for old_sha, old_path in (row for row in ledger if Path(row[1]).name == path.name):
        reason = f"replaced by corrected re-send {path} (sha256 {sha[:12]}; same file name, location, drug and day)"
        moved = _move(con, old_sha, old_path, reason, CARRIED)
        if moved:
            notes.append((old_path, moved, f"replaced {moved} rows of {old_path} (a corrected re-send: same file "
                                           "name; the location x drug x days this file carries)"))
    return notes


def _move(con, old_sha: str, old_path: str, reason: str, where: str = "true") -> int:
    """Move the rows of file ``old_sha`` in ``raw.dispensing`` that ``where`` (SQL over ``d``) selects to the
    rejects with ``reason``, and their count in its ledger entry from loaded to rejected; returns how many."""
    old_id = con.execute(f"select file_id from {schema.LOADED_FILES} where file_sha256 = ?", [old_sha]).fetchone()[0]
    moved = con.execute(
        f"insert into {schema.DISPENSING_REJECTS} select $old, $old_path, line, null, $reason, "
        "strftime(dispensed_at, '%Y-%m-%d %H:%M:%S'), location_id, drug_id, quantity::varchar "
        f"from {schema.DISPENSING} d where file_id = $old_id and {where}",
        {"old": old_sha, "old_path": old_path, "reason": reason, "old_id": old_id},
    ).fetchone()[0]
    if moved:
        con.execute(f"delete from {schema.DISPENSING} d where file_id = $old_id and {where}", {"old_id": old_id})
        con.execute(
            f"update {schema.LOADED_FILES} set rows_loaded = rows_loaded - $n, rows_rejected = rows_rejected + $n "
            "where file_sha256 = $old", {"n": moved, "old": old_sha},
        )
    return moved


def reject_overlaps(con, window: dict[str, object]) -> int:
    """Reject the staged rows another file loaded already (after :func:`replace_resent`, on its ``_ingest_keys``,
    within the :func:`earlier_window`); returns how many.

    ``_ingest_checked`` then shows them rejected (``sql/dispensing_overlap_checked.sql``).
    """
    con.execute(sql_text("dispensing_earlier"), window)
    if not con.execute("select count(*) from _ingest_earlier").fetchone()[0]:
        return 0
    con.execute(sql_text("dispensing_overlap"))
    overlapping = con.execute("select count(*) from _ingest_overlaps").fetchone()[0]
    if overlapping:
        con.execute(sql_text("dispensing_overlap_checked"))
    return overlapping
