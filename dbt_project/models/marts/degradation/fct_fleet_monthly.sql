{#- The fleet per month: how many devices reported, the median and worst SoH index, throughput and cycles. -#}

with

energy as (
    select
        month,
        count(distinct device_id) as devices,
        sum(energy_in_kwh) as total_energy_in_kwh,
        sum(energy_out_kwh) as total_energy_out_kwh,
        sum(efc_energy) as total_efc
    from {{ ref('fct_round_trip_efficiency_monthly') }}
    group by month
),

health as (
    select
        month,
        count(soh_apparent_pct) as devices_with_soh,
        percentile_cont(0.5) within group (order by soh_apparent_pct) as median_soh_apparent_pct,
        min(soh_apparent_pct) as worst_soh_apparent_pct
    from {{ ref('fct_capacity_monthly') }}
    group by month
),

final as (
    select
        energy.month,
        energy.devices,
        coalesce(health.devices_with_soh, 0) as devices_with_soh,
        health.median_soh_apparent_pct,
        health.worst_soh_apparent_pct,
        energy.total_energy_in_kwh,
        energy.total_energy_out_kwh,
        energy.total_energy_in_kwh + energy.total_energy_out_kwh as total_throughput_kwh,
        energy.total_efc,
        energy.total_efc / nullif(energy.devices, 0) as efc_per_device,
        energy.total_energy_out_kwh / nullif(energy.total_energy_in_kwh, 0) as fleet_rte
    from energy
    left join health on energy.month = health.month
)

select * from final
