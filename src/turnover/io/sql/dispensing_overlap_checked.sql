-- The staged rows with the overlapping ones (_ingest_overlaps) rejected: the reason names the earlier
-- file, and so does overlap_path (null on every other row).
create or replace temp view _ingest_checked as
with final as (
    select b.* replace (
        case when o.overlap_path is not null then 'dispensed_at' else b.reject_column end as reject_column,
        case when o.overlap_path is not null
            then 'already loaded from ' || o.overlap_path || ' (same location, drug, day and time span); not loaded twice'
            else b.reason end as reason
    ), o.overlap_path
    from _ingest_base b
    left join _ingest_overlaps o using (row_key)
)

select * from final
