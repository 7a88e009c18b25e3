-- Physical line of the k-th good record of a staged file (k = rowid + 1 of the staged table, which
-- the caller puts in place of _ingest_staged). DuckDB skips blank lines and, in a dispensing export,
-- structurally broken ones: the caller lists every skipped line in _ingest_skipped (line). Good record
-- k sits after every skipped line that has fewer than k good records before it, so its line is
-- k + header + that count. Built only when some line was skipped; otherwise line = k + header.
-- Used by ingest (staging.py) and for reference files (reference.py).
-- Parameters: $header_lines (bigint).
create or replace temp table _ingest_lines as
with ranked as (
    select line - 1 - $header_lines - (row_number() over (order by line) - 1) as good_before,
           row_number() over (order by line) as n_skipped
    from _ingest_skipped
),
-- Consecutive skipped lines share good_before: the record after them follows the last one.
runs as (
    select good_before, max(n_skipped) as n_skipped from ranked group by good_before
),
src as (
    select rowid + 1 as k from _ingest_staged
)
select s.k, s.k + $header_lines + coalesce(r.n_skipped, 0) as line
from src s asof left join runs r on s.k > r.good_before
