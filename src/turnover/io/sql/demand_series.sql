-- Demand series: one row per location x drug x complete bucket, from the bucket of the series'
-- first dispensing through the last bucket complete at the as-of date, zero-filled.
-- Returns are netted within the bucket; a bucket whose returns exceed its dispensing counts as
-- zero demand (units_net keeps the signed sum). Nothing after $as_of is read.
--
-- Censoring: days the location was closed (ref.closures) or the drug was out of stock there
-- (ref.stockouts) are not days of zero demand. A bucket with some such days has its observed units
-- scaled by bucket days / open days (as Open mSupply scales consumption by days in stock); a bucket
-- with none open gets units = null, filled in later from its neighbours (turnover.demand).
-- Parameters: $as_of (date), $period ('week' | 'month'), $last_history_start (date), $step (interval).
-- Rows are in no particular order (readers order them): sorting a chain's nine million rows here cost
-- a third of the build and a gigabyte of memory.
create or replace table staging.demand_series as
with dispensed as (
    select location_id, drug_id, cast(dispensed_at as date) as dispensed_on, quantity
    from raw.dispensing
    where cast(dispensed_at as date) <= $as_of
),

bucketed as (
    select location_id, drug_id,
           cast(date_trunc($period, dispensed_on) as date) as period_start,
           sum(quantity) as units_net,
           sum(quantity) filter (where quantity < 0) as units_returned
    from dispensed
    group by all
),

spans as (
    select location_id, drug_id, min(period_start) as first_period
    from bucketed
    group by all
),

grid as (
    select location_id, drug_id,
           cast(unnest(generate_series(first_period, $last_history_start, $step)) as date) as period_start
    from spans
    where first_period <= $last_history_start
),

censored_days as (
    select s.location_id, s.drug_id, c.closed_on as day
    from spans s
    join ref.closures c on c.location_id is null or c.location_id = s.location_id
    where c.closed_on between s.first_period and $as_of
    union
    select o.location_id, o.drug_id, cast(unnest(generate_series(o.start_date, least(o.end_date, $as_of), interval 1 day)) as date)
    from ref.stockouts o
    where o.start_date <= $as_of
),

censored_buckets as (
    select location_id, drug_id, cast(date_trunc($period, day) as date) as period_start, count(*) as censored_days
    from censored_days
    group by all
),

joined as (
    select g.location_id, g.drug_id, g.period_start,
           greatest(coalesce(b.units_net, 0), 0) as units_observed,
           coalesce(b.units_net, 0) as units_net,
           coalesce(-b.units_returned, 0) as units_returned,
           coalesce(c.censored_days, 0) as censored_days,
           datediff('day', g.period_start, cast(g.period_start + $step as date)) as bucket_days
    from grid g
    left join bucketed b using (location_id, drug_id, period_start)
    left join censored_buckets c using (location_id, drug_id, period_start)
),

final as (
    select location_id, drug_id, period_start,
           case
               when censored_days = 0 then units_observed
               when censored_days < bucket_days then units_observed * bucket_days / (bucket_days - censored_days)
           end as units,
           units_observed, units_net, units_returned, censored_days
    from joined
)

select * from final
