-- Reject the staged rows (_ingest_checked) that another file loaded already. A row overlaps when an
-- earlier file has rows for the same location on the same day and the row's time falls within that
-- file's first-to-last time on that day (rows dated without a time all fall at midnight, so any two
-- files with the same location and day overlap). The reason names the earlier file, and so does
-- overlap_path (null on every other row). Needs _ingest_days (location_id, day) of the staged good rows.
create or replace temp table _ingest_checked as
with days as (
    select distinct location_id, day from _ingest_days
),

earlier as (
    select d.location_id, cast(d.dispensed_at as date) as day, f.file_path,
           min(d.dispensed_at) as first_at, max(d.dispensed_at) as last_at
    from raw.dispensing d
    join raw.loaded_files f using (file_sha256)
    join days n on n.location_id = d.location_id and n.day = cast(d.dispensed_at as date)
    group by all
),

matched as (
    select
        c.*,
        (
            select min(e.file_path) from earlier e
            where e.location_id = c.location_id and e.day = cast(c.dispensed_at as date)
              and c.dispensed_at between e.first_at and e.last_at
        ) as overlap_path
    from _ingest_checked c
),

final as (
    select * replace (
        case when reason is null and overlap_path is not null then 'dispensed_at' else reject_column end
            as reject_column,
        case when reason is null and overlap_path is not null
            then 'already loaded from ' || overlap_path || ' (same location, day and time span); not loaded twice'
            else reason end as reason,
        case when reason is null then overlap_path end as overlap_path
    )
    from matched
)

select * from final
