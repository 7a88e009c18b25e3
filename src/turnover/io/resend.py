"""Exports that overlap ones loaded before, and corrected re-sends that replace them.

Decided per location and day, inside the load's transaction, on the staged rows ``_ingest_checked``:

- A row that another file loaded already (same location and day, and a time within that file's
  first-to-last time that day; rows dated without a time all overlap) is rejected, naming that file
  (``sql/dispensing_overlap.sql``). A week sent twice under two names is not counted twice; a
  rolling "last 7 days" export loads only its new day; a morning and an afternoon export of one day
  with their times both load.
- A corrected re-send replaces an earlier file when it has the same file name (other bytes: the same
  bytes are skipped before this) and has rows for every location and day the earlier file loaded
  rows for. The earlier file's rows move to ``raw.dispensing_rejects`` with the reason "replaced by
  corrected re-send <path>", and its ledger counts move with them, so for every file read = loaded +
  rejected still holds and nothing is deleted. A same-name file that covers less (another week's
  ``export.csv``, or a re-send missing a day) replaces nothing, and its overlapping rows are rejected
  as above.
"""

from __future__ import annotations

from pathlib import Path

from turnover import schema
from turnover.io.warehouse import sql_text


def replace_resent(con, path: Path, sha: str) -> tuple[tuple[str, ...], int]:
    """Apply the corrected re-send rule (module docstring): earlier files with this file's name whose every
    location and day this file covers have their rows moved to the rejects. Returns their paths and rows.

    Leaves ``_ingest_days``, the locations and days of the staged good rows, for :func:`reject_overlaps`."""
    con.execute("create or replace temp table _ingest_days as select distinct location_id, "
                "cast(dispensed_at as date) as day from _ingest_checked where reason is null")
    ledger = con.execute(
        f"select file_sha256, file_path, rows_loaded from {schema.LOADED_FILES} where rows_loaded > 0 "
        "order by loaded_at"
    ).fetchall()
    # Only a file of the same name can be re-sent: the others are never read here.
    candidates = [row for row in ledger if Path(row[1]).name == path.name]
    replaced, rows = [], 0
    for old_sha, old_path, moved in candidates:
        uncovered, covered = con.execute(
            f"select count(*) filter (where n.day is null), count(*) filter (where n.day is not null) from ("
            f"select distinct location_id, cast(dispensed_at as date) as day from {schema.DISPENSING} "
            "where file_sha256 = $old) d left join _ingest_days n using (location_id, day)",
            {"old": old_sha},
        ).fetchone()
        if uncovered or not covered:
            continue
        # All of the file's rows in raw.dispensing: the ledger counts them (rows_loaded).
        con.execute(
            f"insert into {schema.DISPENSING_REJECTS} select file_sha256, $old_path, line, null, "
            "'replaced by corrected re-send ' || $path || ' (sha256 ' || left($sha, 12) || ')', "
            "strftime(dispensed_at, '%Y-%m-%d %H:%M:%S'), location_id, drug_id, quantity::varchar "
            f"from {schema.DISPENSING} where file_sha256 = $old",
            {"old": old_sha, "old_path": old_path, "path": str(path), "sha": sha},
        )
        con.execute(f"delete from {schema.DISPENSING} where file_sha256 = ?", [old_sha])
        con.execute(
            f"update {schema.LOADED_FILES} set rows_loaded = rows_loaded - $n, rows_rejected = rows_rejected + $n "
            "where file_sha256 = $old", {"n": moved, "old": old_sha},
        )
        replaced.append(old_path)
        rows += moved
    return tuple(replaced), rows


def reject_overlaps(con) -> int:
    """Reject the staged rows another file loaded already (after :func:`replace_resent`, on its ``_ingest_days``);
    returns how many.

    ``_ingest_checked`` then shows them rejected (``sql/dispensing_overlap_checked.sql``).
    """
    bounds = con.execute(
        "select min(day), max(day) + 1, min(location_id), max(location_id) from _ingest_days"
    ).fetchone()
    if bounds[0] is None:
        return 0  # no good rows
    con.execute(sql_text("dispensing_earlier"), dict(zip(
        ("first_day", "after_last_day", "first_location", "last_location"), bounds, strict=True)))
    if not con.execute("select count(*) from _ingest_earlier").fetchone()[0]:
        return 0
    con.execute(sql_text("dispensing_overlap"))
    overlapping = con.execute("select count(*) from _ingest_overlaps").fetchone()[0]
    if overlapping:
        con.execute(sql_text("dispensing_overlap_checked"))
    return overlapping
