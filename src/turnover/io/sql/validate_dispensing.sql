-- Type and check staged dispensing rows (_ingest_raw, all text). Each row gets the first failing
-- column and a reason, or null for both when it loads. Parameters: $date_formats (varchar[]),
-- $earliest_date (date), $latest_date (date: the load day plus the tolerance), $max_abs_quantity (double).
create or replace temp table _ingest_checked as
with typed as (
    select
        *,
        nullif(trim(raw_dispensed_at), '') as dispensed_text,
        coalesce(
            try_cast(nullif(trim(raw_dispensed_at), '') as timestamp),
            try_strptime(nullif(trim(raw_dispensed_at), ''), $date_formats)
        ) as dispensed_at,
        nullif(trim(raw_location_id), '') as location_id,
        nullif(trim(raw_drug_id), '') as drug_text,
        normalize_ndc(nullif(trim(raw_drug_id), '')) as drug_id,
        nullif(trim(raw_quantity), '') as quantity_text,
        try_cast(nullif(trim(raw_quantity), '') as double) as quantity,
        nullif(trim(raw_drug_name), '') as drug_name,
        normalize_ndc(nullif(trim(raw_ndc), '')) as ndc
    from _ingest_raw
),

checked as (
    select
        *,
        case
            when dispensed_text is null then ['dispensed_at', 'empty date']
            when dispensed_at is null then ['dispensed_at', 'not a date in any accepted format']
            when dispensed_at < $earliest_date then ['dispensed_at', 'date before ' || $earliest_date::varchar]
            when cast(dispensed_at as date) > $latest_date
                then ['dispensed_at', 'date after the load day (later than ' || $latest_date::varchar || ')']
            when location_id is null then ['location_id', 'empty location']
            when drug_id is null then ['drug_id', 'empty drug id']
            -- 5.0090021901E+10: a spreadsheet turned the id into a rounded number.
            when regexp_full_match(drug_text, '\d\.\d+[eE]\+\d+')
                then ['drug_id', 'drug id in scientific notation (a spreadsheet rounded it; export the column as text)']
            -- Three hyphenated groups of digits is an NDC that fits none of the 10- or 11-digit forms.
            when regexp_full_match(drug_text, '\d+-\d+-\d+') and not regexp_full_match(drug_id, '\d{11}')
                then ['drug_id', 'malformed NDC (segments must be 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits)']
            when quantity_text is null then ['quantity', 'empty quantity']
            when quantity is null then ['quantity', 'not a number']
            when not isfinite(quantity) then ['quantity', 'not a finite number']
            when abs(quantity) > $max_abs_quantity then ['quantity', 'beyond the plausible bound of ' || $max_abs_quantity::varchar || ' units']
        end as failure
    from typed
),

final as (
    select * exclude (failure, drug_text), failure[1] as reject_column, failure[2] as reason
    from checked
)

select * from final
