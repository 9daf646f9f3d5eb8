{{ config(materialized='table') }}

{#-
    E_ref, the capacity SoH and equivalent full cycles are measured against: the usable capacity
    from the device_specs seed when the device has a row there, else a baseline: the median apparent
    capacity of the device's first capacity_baseline_months months that have one. A baseline
    starts at 100 % SoH by construction and already includes any fade before the data begins.
-#}

with

devices as (
    -- One row per device with battery samples (a small table, unlike the samples).
    select device_id
    from {{ ref('int_device_power_sign') }}
),

ranked_months as (
    select
        device_id,
        month,
        apparent_capacity_kwh,
        row_number() over (partition by device_id order by month) as month_rank
    from {{ ref('int_capacity_monthly_observed') }}
    where apparent_capacity_kwh is not null
),

baselines as (
    select
        device_id,
        percentile_cont(0.5) within group (order by apparent_capacity_kwh) as baseline_capacity_kwh,
        count(*) as baseline_months,
        min(month) as baseline_from,
        max(month) as baseline_to
    from ranked_months
    where month_rank <= {{ var('capacity_baseline_months') }}
    group by device_id
),

final as (
    select
        devices.device_id,
        coalesce(specs.usable_capacity_kwh::double precision, baselines.baseline_capacity_kwh)
            as ref_capacity_kwh,
        case
            when specs.usable_capacity_kwh is not null then 'spec'
            when baselines.baseline_capacity_kwh is not null then 'baseline'
        end as ref_source,
        specs.max_power_kw,
        specs.commissioned_on,
        baselines.baseline_capacity_kwh,
        baselines.baseline_months,
        baselines.baseline_from,
        baselines.baseline_to
    from devices
    left join {{ ref('device_specs') }} as specs
        on devices.device_id = specs.device_id
    left join baselines
        on devices.device_id = baselines.device_id
)

select * from final
