-- Physical line of the k-th good record of a staged export (k = rowid + 1 of the staged table, which
-- ingest puts in place of _ingest_staged). DuckDB skips blank lines and structurally broken ones (the
-- latter reported in _ingest_struct with their true line): good record k sits after every skipped
-- line that has fewer than k good records before it, so its line is k + header + that count. Built
-- only when some line was skipped; otherwise line = k + header.
-- Parameters: $header_lines (bigint), $blank_lines (bigint[]).
create or replace temp table _ingest_lines as
with skipped as (
    select line from _ingest_struct
    union all
    select unnest($blank_lines::bigint[]) as line
),
ranked as (
    select line - 1 - $header_lines - (row_number() over (order by line) - 1) as good_before,
           row_number() over (order by line) as n_skipped
    from skipped
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
