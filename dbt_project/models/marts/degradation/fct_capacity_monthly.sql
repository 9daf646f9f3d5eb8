{#-
    Apparent capacity and SoH index per device and month. "Apparent": SoC-referenced and measured at
    the counters, not a vendor state of health (the feed has no voltage, current or temperature).
-#}

with

observed as (
    select * from {{ ref('int_capacity_monthly_observed') }}
),

reference as (
    select * from {{ ref('int_device_reference_capacity') }}
),

coverage as (
    select * from {{ ref('int_battery_monthly_coverage') }}
),

devices as (
    select
        device_id,
        device_name
    from {{ ref('dim_devices') }}
),

final as (
    select
        observed.device_id,
        devices.device_name,
        observed.month,
        observed.apparent_capacity_kwh,
        observed.n_charge_events + observed.n_discharge_events as n_events,
        observed.n_charge_events,
        observed.n_discharge_events,
        observed.charge_capacity_kwh,
        observed.discharge_capacity_kwh,
        observed.n_charge_segments + observed.n_discharge_segments as n_segments,
        observed.n_charge_segments,
        observed.n_discharge_segments,
        observed.capacity_stderr_pct,
        reference.ref_capacity_kwh,
        reference.ref_source,
        100.0 * observed.apparent_capacity_kwh / nullif(reference.ref_capacity_kwh, 0) as soh_apparent_pct,
        'geometric mean of charge and discharge apparent capacity over partial SoC segments' as capacity_method,
        case
            when observed.apparent_capacity_kwh is null then 'too_few_segments'
            when reference.ref_capacity_kwh is null then 'no_reference_capacity'
            -- A few days' segments can give a capacity; they do not speak for the month (fade fit).
            when not coalesce(coverage.is_whole_month, false) then 'partial_month'
            else 'ok'
        end as quality_flag
    from observed
    inner join reference
        on observed.device_id = reference.device_id
    left join coverage
        on observed.device_id = coverage.device_id and observed.month = coverage.month
    left join devices
        on observed.device_id = devices.device_id
)

select * from final
