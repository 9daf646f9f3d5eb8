{{ config(materialized='view') }}

{#-
    One row per device and day: the incremental int_battery_daily with what the reference capacity
    E_ref scales. A view, so E_ref (a baseline moves until it has capacity_baseline_months months)
    always applies to every day without a build rewriting history.
-#}

with

days as (
    select * from {{ ref('int_battery_daily') }}
),

reference as (
    select * from {{ ref('int_device_reference_capacity') }}
),

final as (
    select
        days.device_id,
        days.day,
        days.energy_in_kwh,
        days.energy_out_kwh,
        days.energy_method,
        (days.energy_in_kwh + days.energy_out_kwh) / nullif(2 * reference.ref_capacity_kwh, 0) as efc_energy,
        -- Where the SoC estimate was pinned at 0 or 100 % while power flowed, the energy moved counts.
        -- Without a reference capacity that energy cannot count, and the day's figure is unknown.
        days.efc_soc + case
            when days.soc_pinned_throughput_kwh > 0
                then days.soc_pinned_throughput_kwh / nullif(2 * reference.ref_capacity_kwh, 0)
            else 0
        end as efc_soc,
        days.soc_pinned_throughput_kwh,
        days.soc_min,
        days.soc_max,
        days.soc_avg_time_weighted,
        days.hours_soc_ge_90,
        days.hours_soc_le_10,
        days.deep_discharge_events,
        days.day_hours,
        days.coverage_pct,
        days.counter_resets,
        days.counter_jumps,
        reference.ref_capacity_kwh,
        reference.ref_source,
        days.quality_flag
    from days
    inner join reference
        on days.device_id = reference.device_id
)

select * from final
