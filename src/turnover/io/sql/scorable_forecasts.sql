-- Earlier runs' forecast periods that can be scored now (turnover.tracking): complete by $as_of, after
-- the forecast's own as-of, and dispensed (staging.demand_series as built for this run; null units: a
-- fully censored period, not scored). series_index is the series' place in staging.series order (the
-- demand panel's); later is the number of demand periods after the forecast's as-of: every series runs
-- through the same last period, so the forecast saw each series without its last `later` periods.
--
-- Each period is scored once (issue 17: a chain's run used to rescore every complete period of its last 17 runs,
-- 6.9 million rows a week): a run's periods after those it has scores for already, and, of those scored, the
-- series x periods that dispensing files loaded since $late_since (the previous completed run's end) brought
-- rows to (a re-sent or late export): these are scored again.
-- Parameters: $run_ids (varchar[]), $as_of (date), $period ('week' | 'month'), $late_since (timestamp).
with keys as (
    select location_id, drug_id, row_number() over (order by location_id, drug_id) - 1 as series_index
    from staging.series
),

runs as (
    select run_id as forecast_run_id, as_of as forecast_as_of
    from marts.runs
    where run_id in (select unnest($run_ids::varchar[]))
),

forecasts as (
    select f.run_id as forecast_run_id, r.forecast_as_of, f.location_id, f.drug_id, f.period_start,
           f.mean, f.q50, f.q80, f.q90, f.q95, f.q99, f.model
    from marts.forecast f
    join runs r on r.forecast_run_id = f.run_id
),

scored as (
    select forecast_run_id, max(period_start) as scored_through
    from marts.forecast_accuracy
    where forecast_run_id in (select forecast_run_id from runs)
    group by 1
),

late as (
    select distinct d.location_id, d.drug_id, cast(date_trunc($period, d.dispensed_at) as date) as period_start
    from raw.dispensing d
    semi join raw.loaded_files f on f.file_id = d.file_id and f.loaded_at > $late_since
    where cast(date_trunc($period, d.dispensed_at) as date) <= (select max(scored_through) from scored)
),

complete as (
    select f.*
    from forecasts f
    left join scored s using (forecast_run_id)
    left join late l using (location_id, drug_id, period_start)
    where (case when $period = 'week' then f.period_start + 6 else last_day(f.period_start) end) <= $as_of
      and f.period_start > f.forecast_as_of
      and (s.scored_through is null or f.period_start > s.scored_through or l.period_start is not null)
),

-- Only the periods after the oldest forecast's as-of can be scored or be later than a forecast's as-of:
-- the rest of the history is not read.
recent as (
    select location_id, drug_id, period_start, units
    from staging.demand_series
    where period_start > (select min(forecast_as_of) from runs)
),

dispensed as (
    select location_id, drug_id, period_start, units
    from recent
    where units is not null
),

later as (
    select r.forecast_run_id, count(p.period_start) as later
    from runs r
    left join (select distinct period_start from recent) p on p.period_start > r.forecast_as_of
    group by 1
),

final as (
    select c.*, d.units as actual_units, k.series_index, l.later
    from complete c
    join dispensed d using (location_id, drug_id, period_start)
    join keys k using (location_id, drug_id)
    join later l using (forecast_run_id)
)

select * from final
