-- The staged rows (the view _ingest_base) that another file loaded already. A row overlaps when an
-- earlier file has rows of the same drug for the same location on the same day and the row's time
-- falls within that file's first-to-last time of that drug on that day (_ingest_earlier,
-- dispensing_earlier.sql; rows dated without a time all fall at midnight, so a drug's day loaded
-- before overlaps whole, and other drugs never do). One row per overlapping good row, naming the
-- earlier file (the first by path when several).
create or replace temp table _ingest_overlaps as
with good as (
    select row_key, location_id, drug_id, cast(dispensed_at as date) as day, dispensed_at
    from _ingest_base
    where reason is null
),

final as (
    select g.row_key, min(e.file_path) as overlap_path
    from good g
    join _ingest_earlier e
      on e.location_id = g.location_id and e.drug_id = g.drug_id and e.day = g.day
     and g.dispensed_at between e.first_at and e.last_at
    group by g.row_key
)

select * from final
