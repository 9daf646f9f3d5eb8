{#-
    Round-trip efficiency per device and month: energy out / energy in, summed over the whole month
    (many cycles), never per cycle. The energy stored at the end of the month differs from the start
    by soc_change_pct of the capacity; when that is large against the throughput `rte` is biased.
    rte_soc_adjusted removes that bias: it counts the stored change as if it had been discharged, at
    the month's discharge apparent capacity (capacity x discharge efficiency, the energy 100 SoC
    points give out at the counter). `rte` is given only on months flagged ok; rte_soc_adjusted also on
    months whose bias it removes (soc_drift) or whose energy came from power; both are null with the
    reason in quality_flag where the month cannot say (no energy in, a partial month, too few cycles).
-#}

with

daily as (
    select * from {{ ref('fct_battery_daily') }}
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

observed_capacity as (
    select
        device_id,
        month,
        discharge_capacity_kwh
    from {{ ref('int_capacity_monthly_observed') }}
),

monthly as (
    select
        device_id,
        date_trunc('month', day)::date as month,
        sum(energy_in_kwh) as energy_in_kwh,
        sum(energy_out_kwh) as energy_out_kwh,
        sum(efc_energy) as efc_energy,
        count(*) as days_with_data,
        bool_and(energy_method = 'counter') as all_from_counters
    from daily
    group by device_id, date_trunc('month', day)::date
),

soc_at_month_edges as (
    -- The first and last SoC of each device-month, two index lookups each: never a scan of the samples.
    select
        monthly.device_id,
        monthly.month,
        first_soc.soc_pct as soc_first,
        last_soc.soc_pct as soc_last
    from monthly
    cross join {{ soc_reading_in('monthly.device_id', reporting_period_start('monthly.month'),
                                 reporting_period_start("monthly.month + interval '1 month'")) }} as first_soc
    cross join {{ soc_reading_in('monthly.device_id', reporting_period_start('monthly.month'),
                                 reporting_period_start("monthly.month + interval '1 month'"), latest=true) }}
        as last_soc
),

flagged as (
    select
        monthly.device_id,
        monthly.month,
        monthly.energy_in_kwh,
        monthly.energy_out_kwh,
        monthly.energy_out_kwh / nullif(monthly.energy_in_kwh, 0) as rte_measured,
        (
            monthly.energy_out_kwh
            + (soc_at_month_edges.soc_last - soc_at_month_edges.soc_first) / 100.0
            * observed.discharge_capacity_kwh
        ) / nullif(monthly.energy_in_kwh, 0) as rte_adjusted,
        monthly.efc_energy,
        monthly.days_with_data,
        coverage.hours_covered,
        soc_at_month_edges.soc_last - soc_at_month_edges.soc_first as soc_change_pct,
        case
            when monthly.energy_in_kwh is null or monthly.energy_in_kwh = 0 then 'no_energy_in'
            when not coverage.is_whole_month then 'partial_month'
            when not monthly.all_from_counters then 'energy_from_power'
            when monthly.efc_energy is null then 'no_reference_capacity'
            when monthly.efc_energy < {{ var('rte_min_efc') }} then 'few_cycles'
            -- The stored-energy change biases the ratio by about soc_change / 100 / cycles.
            when
                abs(soc_at_month_edges.soc_last - soc_at_month_edges.soc_first) / 100.0
                > 0.01 * monthly.efc_energy then 'soc_drift'
            else 'ok'
        end as quality_flag
    from monthly
    inner join coverage
        on monthly.device_id = coverage.device_id and monthly.month = coverage.month
    left join soc_at_month_edges
        on monthly.device_id = soc_at_month_edges.device_id and monthly.month = soc_at_month_edges.month
    left join observed_capacity as observed
        on monthly.device_id = observed.device_id and monthly.month = observed.month
),

final as (
    select
        flagged.device_id,
        devices.device_name,
        flagged.month,
        flagged.energy_in_kwh,
        flagged.energy_out_kwh,
        case when flagged.quality_flag = 'ok' then flagged.rte_measured end as rte,
        case
            when flagged.quality_flag in ('ok', 'soc_drift', 'energy_from_power') then flagged.rte_adjusted
        end as rte_soc_adjusted,
        flagged.efc_energy,
        flagged.days_with_data,
        flagged.hours_covered,
        flagged.soc_change_pct,
        flagged.quality_flag
    from flagged
    left join devices
        on flagged.device_id = devices.device_id
)

select * from final
