-- Demand series: one row per location x drug x complete bucket, from the bucket of the series'
-- first dispensing through the last bucket complete at the as-of date, zero-filled.
-- Returns are netted within the bucket; a bucket whose returns exceed its dispensing counts as
-- zero demand (units_net keeps the signed sum). Nothing after $as_of is read.
-- Parameters: $as_of (date), $period ('week' | 'month'), $last_history_start (date), $step (interval).
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

final as (
    select g.location_id, g.drug_id, g.period_start,
           greatest(coalesce(b.units_net, 0), 0) as units,
           coalesce(b.units_net, 0) as units_net,
           coalesce(-b.units_returned, 0) as units_returned
    from grid g
    left join bucketed b using (location_id, drug_id, period_start)
)

select * from final order by location_id, drug_id, period_start
