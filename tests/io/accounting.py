"""Checks shared by the ingest tests: the row accounting of every load, against the tables."""

from __future__ import annotations

from turnover import schema
from turnover.io.load_report import LoadReport


def assert_accounted(con, report: LoadReport | None = None) -> None:
    """For every file in the ledger, read = loaded + rejected, and the warehouse holds exactly that many
    rows of it in ``raw.dispensing`` and in ``raw.dispensing_rejects``; no row belongs to no file."""
    ledger = con.execute(f"""
        select f.file_path, f.rows_read, f.rows_loaded, f.rows_rejected,
               (select count(*) from {schema.DISPENSING} d where d.file_id = f.file_id),
               (select count(*) from {schema.DISPENSING_REJECTS} r where r.file_sha256 = f.file_sha256)
        from {schema.LOADED_FILES} f
    """).fetchall()
    for path, read, loaded, rejected, in_dispensing, in_rejects in ledger:
        assert read == loaded + rejected, f"{path}: read {read} != loaded {loaded} + rejected {rejected}"
        assert (in_dispensing, in_rejects) == (loaded, rejected), f"{path}: tables hold {in_dispensing}, {in_rejects}"
    for table, key in ((schema.DISPENSING, "file_id"), (schema.DISPENSING_REJECTS, "file_sha256")):
        orphans = con.execute(
            f"select count(*) from {table} where {key} not in (select {key} from {schema.LOADED_FILES})"
        ).fetchone()[0]
        assert orphans == 0, f"{table}: {orphans} rows of no loaded file"
    if report is not None and not report.already_loaded:
        assert report.rows_read == report.rows_loaded + report.rows_rejected, report.summary()
        assert f"read {report.rows_read}, loaded {report.rows_loaded}, rejected {report.rows_rejected}" in report.summary()


def assert_lines(con, report: LoadReport, physical_lines: int, rows_per_line: int = 1,
                 lines: set[int] | None = None) -> None:
    """Apart from the counts the load keeps (which ``assert_accounted`` checks against each other): every row of
    ``report``'s file in raw.dispensing and raw.dispensing_rejects names a line of the file after the header
    (2..``physical_lines``), no line gives more than one row (a wide layout's line that was read gives
    ``rows_per_line``, one per drug column, each of another drug), and those rows number ``rows_read``. When
    the caller knows them (``lines``: a file without quotes has a record on each line that is not blank), the
    rows' lines are exactly those: no record was lost."""
    per_line = con.execute(f"""
        select line, count(*), count(distinct drug) from (
            select line, drug_id as drug from {schema.DISPENSING} join {schema.LOADED_FILES} using (file_id)
            where file_sha256 = $sha
            union all
            select line, raw_drug_id from {schema.DISPENSING_REJECTS} where file_sha256 = $sha
        ) group by line order by line
    """, {"sha": report.file_sha256}).fetchall()
    where = f"{report.file_path}: lines (line, rows, drugs) {per_line}"
    assert sum(n for _, n, _ in per_line) == report.rows_read, where
    assert all(2 <= line <= physical_lines for line, _, _ in per_line), f"{where} beyond 2..{physical_lines}"
    assert all(n == 1 or n == drugs == rows_per_line for _, n, drugs in per_line), where
    if lines is not None:
        assert {line for line, _, _ in per_line} == lines, f"{where}, expected lines {sorted(lines)}"


def table_counts(con) -> tuple[int, int, int]:
    """Rows in raw.dispensing, raw.dispensing_rejects and raw.loaded_files."""
    return tuple(con.execute(f"select count(*) from {t}").fetchone()[0]
                 for t in (schema.DISPENSING, schema.DISPENSING_REJECTS, schema.LOADED_FILES))
