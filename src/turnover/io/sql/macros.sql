-- Temporary macros, defined on every connection.

-- trim(x) without its cost where it would change nothing. trim removes Unicode space separators
-- (' ' and, beyond ASCII, no-break and other spaces): a value of ASCII only that neither starts
-- nor ends with ' ' is returned as it is. Ids and numbers of a clean export all are (a third of
-- the ingest's time went to trim before).
create or replace temp macro trimmed(x) as (
    case
        when ord(x) between 33 and 127 and not ends_with(x, ' ') and strlen(x) = length(x) then x
        else trim(x)
    end
);

-- NDC to 11 digits (5-4-2) as text. 10-digit hyphenated forms pad their short segment with a
-- leading zero: 4-4-2 -> 0+4-4-2, 5-3-2 -> 5-0+3-2, 5-4-1 -> 5-4-0+1. Anything else (a local
-- code, an unhyphenated 10-digit number whose form cannot be known) is returned trimmed.
create or replace temp macro normalize_ndc(x) as (
    case
        -- Every form below has hyphens: the common unhyphenated id skips the four patterns.
        when not contains(x, '-') then trimmed(x)
        when regexp_full_match(trim(x), '\d{4}-\d{4}-\d{2}')
            then '0' || replace(trim(x), '-', '')
        when regexp_full_match(trim(x), '\d{5}-\d{3}-\d{2}')
            then split_part(trim(x), '-', 1) || '0' || split_part(trim(x), '-', 2) || split_part(trim(x), '-', 3)
        when regexp_full_match(trim(x), '\d{5}-\d{4}-\d{1}')
            then split_part(trim(x), '-', 1) || split_part(trim(x), '-', 2) || '0' || split_part(trim(x), '-', 3)
        when regexp_full_match(trim(x), '\d{5}-\d{4}-\d{2}')
            then replace(trim(x), '-', '')
        else trim(x)
    end
);
