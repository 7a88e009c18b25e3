-- Score the scorable forecast periods (the temporary table _scorable_forecasts, built from
-- scorable_forecasts.sql by turnover.io.tracking.scorable) into marts.forecast_accuracy, each with its
-- run x series MASE scale (_score_scales: forecast_run_id, series_index, scale, from
-- turnover.tracking.history_scales): horizon = periods from the forecast's first period + 1; |actual - mean|,
-- and that over the scale.
-- Parameters: $period ('week' | 'month'), $step_days (double), $scored_by (varchar), $scored_at.
insert into marts.forecast_accuracy by name
with final as (
    select
        c.forecast_run_id,
        c.forecast_as_of,
        c.location_id,
        c.drug_id,
        c.period_start,
        cast(round_even(datediff('day', cast(date_trunc($period, c.forecast_as_of + 1) as date), c.period_start)
            / $step_days, 0) as integer) + 1 as horizon_periods,
        c.model,
        cl.demand_class,
        c.actual_units,
        c.mean as mean_units,
        c.q50 as q50_units, c.q80 as q80_units, c.q90 as q90_units, c.q95 as q95_units, c.q99 as q99_units,
        abs(c.actual_units - c.mean) as abs_error_units,
        abs(c.actual_units - c.mean) / s.scale as scaled_abs_error,
        $scored_by as scored_by_run_id,
        $scored_at as scored_at
    from _scorable_forecasts c
    join _score_scales s using (forecast_run_id, series_index)
    left join marts.demand_class cl
        on cl.run_id = c.forecast_run_id and cl.location_id = c.location_id and cl.drug_id = c.drug_id
)

select * from final
