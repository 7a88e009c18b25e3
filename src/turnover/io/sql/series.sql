-- One row per series to plan: every location x drug dispensed up to $as_of, and every one in the
-- on-hand snapshot, with the inputs the forecast and the policy need (catalog defaults applied).
-- Parameters: $as_of (date), $default_lead_time_days, $default_pack_size_units, $default_criticality,
-- $usage_window_days (annual usage: net units dispensed over the window ending on $as_of).
create or replace table staging.series as
with dispensed as (
    select location_id, drug_id,
           min(cast(dispensed_at as date)) as first_dispensed_on,
           max(cast(dispensed_at as date)) as last_dispensed_on,
           arg_max(drug_name, dispensed_at) filter (where drug_name is not null) as dispensed_drug_name,
           greatest(coalesce(sum(quantity) filter (
               where cast(dispensed_at as date) > $as_of - cast($usage_window_days as integer)
           ), 0), 0) as window_usage_units
    from raw.dispensing
    where cast(dispensed_at as date) <= $as_of
    group by all
),

history as (
    select location_id, drug_id, count(*) as history_periods
    from staging.demand_series
    group by all
),

pairs as (
    select location_id, drug_id from dispensed
    union
    select location_id, drug_id from ref.on_hand
),

final as (
    select
        p.location_id,
        p.drug_id,
        coalesce(c.drug_name, d.dispensed_drug_name, p.drug_id) as drug_name,
        d.first_dispensed_on,
        d.last_dispensed_on,
        coalesce(h.history_periods, 0) as history_periods,
        -- annualised when the drug has been dispensed for less than the window
        coalesce(d.window_usage_units, 0) * 365.0
            / greatest(least($usage_window_days, $as_of - d.first_dispensed_on + 1), 28) as annual_usage_units,
        coalesce(c.lead_time_days, $default_lead_time_days) as lead_time_days,
        c.lead_time_days is null as lead_time_defaulted,
        coalesce(c.pack_size_units, $default_pack_size_units) as pack_size_units,
        c.pack_size_units is null as pack_size_defaulted,
        coalesce(c.criticality, $default_criticality) as criticality,
        c.unit_cost,
        c.shelf_life_days,
        c.generic_name,
        c.atc_code,
        coalesce(c.min_par_units, 0) as min_par_units,
        c.drug_id is not null as in_catalog,
        coalesce(o.on_hand_units, 0) as on_hand_units,
        coalesce(o.on_order_units, 0) as on_order_units,
        o.drug_id is not null as on_hand_known
    from pairs p
    left join dispensed d using (location_id, drug_id)
    left join history h using (location_id, drug_id)
    left join ref.catalog c on c.drug_id = p.drug_id
    left join ref.on_hand o using (location_id, drug_id)
)

select * from final order by location_id, drug_id
