{{ config(materialized='table') }}

{#-
    Apparent capacity observed per device and month, from clean events only. Charge events see the
    capacity divided by the charging efficiency and discharge events see it multiplied by the
    discharging efficiency (counters sit outside the battery); the geometric mean of the monthly
    median of each cancels the losses when they split evenly between charge and discharge. A month
    needs capacity_min_events_per_direction clean events of each kind, else its capacity is null.
-#}

with

clean_events as (
    select
        device_id,
        date_trunc('month', event_start at time zone 'UTC') as month_start,
        event_type,
        apparent_capacity_kwh
    from {{ ref('fct_battery_events') }}
    where is_clean
),

monthly_by_direction as (
    select
        device_id,
        month_start::date as month,
        count(*) filter (where event_type = 'charge') as n_charge_events,
        count(*) filter (where event_type = 'discharge') as n_discharge_events,
        percentile_cont(0.5) within group (order by apparent_capacity_kwh)
        filter (where event_type = 'charge') as charge_capacity_kwh,
        percentile_cont(0.5) within group (order by apparent_capacity_kwh)
        filter (where event_type = 'discharge') as discharge_capacity_kwh
    from clean_events
    group by device_id, month_start
),

final as (
    select
        device_id,
        month,
        n_charge_events,
        n_discharge_events,
        charge_capacity_kwh,
        discharge_capacity_kwh,
        case
            when
                n_charge_events >= {{ var('capacity_min_events_per_direction') }}
                and n_discharge_events >= {{ var('capacity_min_events_per_direction') }}
                then sqrt(charge_capacity_kwh * discharge_capacity_kwh)
        end as apparent_capacity_kwh
    from monthly_by_direction
)

select * from final
