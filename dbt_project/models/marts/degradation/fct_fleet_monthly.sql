{#-
    The fleet per month: how many devices reported, the median and worst SoH index, throughput and
    cycles. A device counts in a month with at least fleet_min_device_hours of battery data (a device
    seen for a few seconds does not halve the cycles per device); the SoH figures take only months
    flagged ok in fct_capacity_monthly, the fleet's efficiency only device-months flagged ok in
    fct_round_trip_efficiency_monthly (null when none is).
-#}

with

device_months as (
    select *
    from {{ ref('fct_round_trip_efficiency_monthly') }}
    where hours_covered >= {{ var('fleet_min_device_hours') }}
),

capacity_months as (
    select
        month,
        soh_apparent_pct
    from {{ ref('fct_capacity_monthly') }}
    where quality_flag = 'ok'
),

energy as (
    select
        month,
        count(distinct device_id) as devices,
        sum(energy_in_kwh) as total_energy_in_kwh,
        sum(energy_out_kwh) as total_energy_out_kwh,
        sum(efc_energy) as total_efc,
        count(*) filter (where quality_flag = 'ok') as devices_with_rte,
        sum(energy_in_kwh) filter (where quality_flag = 'ok') as rte_energy_in_kwh,
        sum(energy_out_kwh) filter (where quality_flag = 'ok') as rte_energy_out_kwh
    from device_months
    group by month
),

health as (
    select
        month,
        count(soh_apparent_pct) as devices_with_soh,
        percentile_cont(0.5) within group (order by soh_apparent_pct) as median_soh_apparent_pct,
        min(soh_apparent_pct) as worst_soh_apparent_pct
    from capacity_months
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
        energy.devices_with_rte,
        energy.rte_energy_out_kwh / nullif(energy.rte_energy_in_kwh, 0) as fleet_rte
    from energy
    left join health on energy.month = health.month
)

select * from final
