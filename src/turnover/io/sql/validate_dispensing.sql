-- Type and check dispensing rows. _ingest_raw stands for the export's rows in file order: staging.py
-- puts the select of the file (or of a wide layout's unpivoted cells) in its place, so that the file
-- is read once, straight into typed rows (the canonical fields as text: raw_*). Staged (_ingest_typed),
-- a row's position is its rowid and its line is told from that; a Parquet file loaded straight into the
-- warehouse numbers its rows itself (file_line, null otherwise). A Parquet column of timestamps or
-- numbers comes as it is (typed_dispensed_at, typed_quantity, its raw_* null): turned into text only
-- where a row fails, which spares a third of a Parquet load. A row that fails a check gets failure =
-- [column, reason, and the fields as read: dispensed_at, location_id, drug_id, quantity]; a row that
-- loads gets null (one column, mostly null: a column more costs as much as any check).
-- Parameters: $date_formats (varchar[]), $earliest_date (date), $latest_date (date: the load day
-- plus the tolerance), $max_abs_quantity (double), $controls (boolean: the file holds a control character).
--
-- Every value is read as trim(value) (through the trimmed macro, which skips trim where it would change
-- nothing; a cast, which skips ASCII whitespace itself, is tried on the value as read first). DuckDB
-- computes an expression that a projection spells twice (nullif spells its argument twice) once for
-- every row, even inside coalesce or case: the paths that only failing rows reach spell trim apart
-- from anything else in their projection.
with typed as (
    select
        file_line,
        raw_dispensed_at,
        raw_location_id,
        raw_drug_id,
        raw_quantity,
        typed_dispensed_at,
        typed_quantity,
        coalesce(
            typed_dispensed_at,
            try_cast(raw_dispensed_at as timestamp),  -- a cast skips ASCII whitespace itself
            try_cast(trimmed(raw_dispensed_at) as timestamp),
            -- trim spelled apart from trimmed's; try_strptime reads no date from '': no nullif needed
            try_strptime(ltrim(rtrim(raw_dispensed_at)), $date_formats)
        ) as dispensed_at,
        nullif(trimmed(raw_location_id), '') as location_id,
        nullif(trimmed(raw_drug_id), '') as drug_text,
        coalesce(typed_quantity, try_cast(raw_quantity as double), try_cast(trimmed(raw_quantity) as double))
            as quantity,
        nullif(trimmed(raw_drug_name), '') as drug_name,
        nullif(trimmed(raw_ndc), '') as ndc_text
    from _ingest_raw
),

normalised as (
    -- normalize_ndc trims an id without a hyphen: these are trimmed already, and the contains() test in
    -- front spares the common unhyphenated id that second trim (calling the macro alone: this statement
    -- took 12% longer on 1.6 million rows).
    select
        *,
        case when contains(drug_text, '-') then normalize_ndc(drug_text) else drug_text end as drug_id,
        case when contains(ndc_text, '-') then normalize_ndc(ndc_text) else ndc_text end as ndc
    from typed
),

checked as (
    select
        *,
        case
            when dispensed_at is null then
                case when coalesce(trim(raw_dispensed_at), '') = '' then ['dispensed_at', 'empty date']
                     else ['dispensed_at', 'not a date in any accepted format'] end
            when dispensed_at < $earliest_date then ['dispensed_at', 'date before ' || $earliest_date::varchar]
            when cast(dispensed_at as date) > $latest_date
                then ['dispensed_at', 'date after the load day (later than ' || $latest_date::varchar || ')']
            when location_id is null then ['location_id', 'empty location']
            when drug_id is null then ['drug_id', 'empty drug id']
            -- A NUL, an escape sequence or another control character (C0 but the line break, or DEL) in an
            -- id: a Parquet file can carry them, and they would reach outputs and the terminal. Checked only
            -- when the file holds one ($controls: csv_files.CONTROL_BYTES), for the check costs a fifth of
            -- the load. RE2 reads the \x escapes.
            when $controls and regexp_matches(location_id, '[\x00-\x09\x0b-\x1f\x7f]')
                then ['location_id', 'control character in the location id']
            when $controls and regexp_matches(drug_id, '[\x00-\x09\x0b-\x1f\x7f]')
                then ['drug_id', 'control character in the drug id']
            -- 5.0090021901E+10: a spreadsheet turned the id into a rounded number.
            when contains(drug_text, '+') and regexp_full_match(drug_text, '\d\.\d+[eE]\+\d+')
                then ['drug_id', 'drug id in scientific notation (a spreadsheet rounded it; export the column as text)']
            -- Three hyphenated groups of digits is an NDC that fits none of the 10- or 11-digit forms.
            when contains(drug_text, '-') and regexp_full_match(drug_text, '\d+-\d+-\d+')
                and not regexp_full_match(drug_id, '\d{11}')
                then ['drug_id', 'malformed NDC (segments must be 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits)']
            when quantity is null then
                case when coalesce(trim(raw_quantity), '') = '' then ['quantity', 'empty quantity']
                     else ['quantity', 'not a number'] end
            when not isfinite(quantity) then ['quantity', 'not a finite number']
            when abs(quantity) > $max_abs_quantity then ['quantity', 'beyond the plausible bound of ' || $max_abs_quantity::varchar || ' units']
        end as failure
    from normalised
),

final as (
    select file_line, dispensed_at, location_id, drug_id, quantity, drug_name, ndc,
           case when failure is not null
               then failure || [coalesce(raw_dispensed_at, typed_dispensed_at::varchar), raw_location_id, raw_drug_id,
                                coalesce(raw_quantity, typed_quantity::varchar)] end as failure
    from checked
)

select * from final
