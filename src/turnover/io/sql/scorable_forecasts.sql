-- Earlier runs' forecast periods that can be scored now (turnover.tracking): complete by $as_of, after
-- the forecast's own as-of, and dispensed (staging.demand_series as built for this run; null units: a
-- fully censored period, not scored). series_index is the series' place in staging.series order (the
-- demand panel's). Parameters: $run_ids (varchar[]), $as_of (date), $period ('week' | 'month').
with keys as (
    select location_id, drug_id, row_number() over (order by location_id, drug_id) - 1 as series_index
    from staging.series
),

forecasts as (
    select f.run_id as forecast_run_id, r.as_of as forecast_as_of, f.location_id, f.drug_id, f.period_start,
           f.mean, f.q50, f.q80, f.q90, f.q95, f.q99, f.model
    from marts.forecast f
    join marts.runs r using (run_id)
    where f.run_id in (select unnest($run_ids::varchar[]))
),

complete as (
    select *
    from forecasts
    where (case when $period = 'week' then period_start + 6 else last_day(period_start) end) <= $as_of
      and period_start > forecast_as_of
),

-- Only the periods after the oldest forecast's as-of can be scored: the rest of the history is not read.
dispensed as (
    select location_id, drug_id, period_start, units
    from staging.demand_series
    where units is not null
      and period_start > (select min(as_of) from marts.runs where run_id in (select unnest($run_ids::varchar[])))
),

final as (
    select c.*, d.units as actual_units, k.series_index
    from complete c
    join dispensed d using (location_id, drug_id, period_start)
    join keys k using (location_id, drug_id)
)

select * from final
