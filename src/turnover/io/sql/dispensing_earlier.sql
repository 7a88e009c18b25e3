-- For each location x drug x day of the staged good rows (_ingest_keys, one row each: resend.py), the
-- first and last time each earlier file loaded rows of that drug there. Parameters: $first_day,
-- $after_last_day (dates) and $first_location, $last_location bound _ingest_keys: implied by the join,
-- they let DuckDB skip the row groups of other days and locations instead of reading all of
-- raw.dispensing for each load.
create or replace temp table _ingest_earlier as
with candidates as (
    select location_id, drug_id, cast(dispensed_at as date) as day, file_id, dispensed_at
    from raw.dispensing
    where dispensed_at >= $first_day and dispensed_at < $after_last_day
      and location_id between $first_location and $last_location
),

final as (
    select c.location_id, c.drug_id, c.day, f.file_path,
           min(c.dispensed_at) as first_at, max(c.dispensed_at) as last_at
    from candidates c
    join _ingest_keys n using (location_id, drug_id, day)
    join raw.loaded_files f using (file_id)
    group by all
)

select * from final
