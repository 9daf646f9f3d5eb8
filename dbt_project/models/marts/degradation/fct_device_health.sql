{#-
    One row per device: the latest SoH index, the fade rate (least-squares slope of the monthly SoH
    index over the trailing fade_trailing_months months that have one, with n and r²), lifetime
    cycles, the round-trip efficiency of the last 30 days and the anomalies still open.
-#}

{%- set thirty_days_start = reporting_period_start(reporting_period('day', 'last_seen.last_seen_at') ~ ' - 29') %}

with

devices as (
    select
        device_id,
        ref_capacity_kwh,
        ref_source
    from {{ ref('int_device_reference_capacity') }}
),

capacity_monthly as (
    select
        device_id,
        month,
        soh_apparent_pct,
        apparent_capacity_kwh,
        quality_flag
    from {{ ref('fct_capacity_monthly') }}
),

device_names as (
    select
        device_id,
        device_name
    from {{ ref('dim_devices') }}
),

battery_days as (
    select
        device_id,
        day,
        efc_energy,
        energy_in_kwh,
        energy_out_kwh
    from {{ ref('fct_battery_daily') }}
),

observed_capacity as (
    select
        device_id,
        month,
        discharge_capacity_kwh,
        n_discharge_segments
    from {{ ref('int_capacity_monthly_observed') }}
),

telemetry_anomalies as (
    select
        device_id,
        ended_at
    from {{ ref('fct_telemetry_anomalies') }}
),

capacity_months as (
    select
        device_id,
        month,
        soh_apparent_pct,
        apparent_capacity_kwh,
        row_number() over (partition by device_id order by month desc) as months_back
    from capacity_monthly
    -- Only months whose capacity speaks for the month: enough segments, and not partial.
    where quality_flag = 'ok'
),

fade as (
    select
        device_id,
        -- x in years from the month's start, so the slope is percentage points of SoH per year.
        -regr_slope(soh_apparent_pct, extract(epoch from month::timestamp) / 31557600.0) as fade_pct_per_year,
        regr_r2(soh_apparent_pct, extract(epoch from month::timestamp) / 31557600.0) as fade_r2,
        -- The fitted line's SoH at the newest month; with the slope it draws the fit.
        regr_intercept(soh_apparent_pct, extract(epoch from month::timestamp) / 31557600.0)
        + regr_slope(soh_apparent_pct, extract(epoch from month::timestamp) / 31557600.0)
        * extract(epoch from max(month)::timestamp) / 31557600.0 as fade_fit_soh_pct,
        min(month) as fade_fit_first_month,
        count(*) as n_months,
        max(case when months_back = 1 then soh_apparent_pct end) as soh_apparent_pct,
        max(case when months_back = 1 then apparent_capacity_kwh end) as apparent_capacity_kwh,
        max(month) as soh_month
    from capacity_months
    where months_back <= {{ var('fade_trailing_months') }}
    group by device_id
),

daily_totals as (
    select
        device_id,
        sum(efc_energy) as lifetime_efc,
        sum(energy_in_kwh) as lifetime_energy_in_kwh,
        sum(energy_out_kwh) as lifetime_energy_out_kwh
    from battery_days
    group by device_id
),

last_seen as (
    -- Per device through the samples' (device_id, recorded_at) index: never a scan of the history.
    select
        devices.device_id,
        latest.recorded_at as last_seen_at
    from devices
    cross join lateral (
        select samples.recorded_at
        from {{ ref('int_battery_samples') }} as samples
        where samples.device_id = devices.device_id
        order by samples.recorded_at desc
        limit 1
    ) as latest
),

last_30_days as (
    select
        daily.device_id,
        sum(daily.energy_in_kwh) as energy_in_kwh,
        sum(daily.energy_out_kwh) as energy_out_kwh,
        sum(daily.efc_energy) as efc_energy
    from battery_days as daily
    inner join last_seen
        on daily.device_id = last_seen.device_id
    where daily.day > {{ reporting_period('day', 'last_seen.last_seen_at') }} - 30
    group by daily.device_id
),

rte_30d_flag as (
    -- Whether the last 30 days hold enough cycles for their efficiency to mean anything.
    select
        devices.device_id,
        case
            when coalesce(last_30_days.energy_in_kwh, 0) = 0 then 'no_energy_in'
            when last_30_days.efc_energy is null then 'no_reference_capacity'
            when last_30_days.efc_energy < {{ var('rte_min_efc') }} then 'few_cycles'
            else 'ok'
        end as flag
    from devices
    left join last_30_days on devices.device_id = last_30_days.device_id
),

soc_change_30_days as (
    select
        last_seen.device_id,
        last_soc.soc_pct - first_soc.soc_pct as soc_change_pct
    from last_seen
    cross join {{ soc_reading_in('last_seen.device_id', thirty_days_start) }} as first_soc
    cross join {{ soc_reading_in('last_seen.device_id', thirty_days_start, latest=true) }} as last_soc
),

latest_discharge_capacity as (
    select distinct on (device_id)
        device_id,
        discharge_capacity_kwh
    from observed_capacity
    where n_discharge_segments >= {{ var('capacity_min_segments_per_direction') }}
    order by device_id asc, month desc
),

anomalies as (
    select
        device_id,
        count(*) filter (where ended_at is null) as open_anomalies,
        count(*) as total_anomalies
    from telemetry_anomalies
    group by device_id
),

final as (
    select
        devices.device_id,
        device_names.device_name,
        fade.soh_apparent_pct,
        fade.apparent_capacity_kwh,
        fade.soh_month,
        devices.ref_capacity_kwh,
        devices.ref_source,
        case when fade.n_months >= 3 then fade.fade_pct_per_year end as fade_pct_per_year,
        case when fade.n_months >= 3 then fade.fade_r2 end as fade_r2,
        case when fade.n_months >= 3 then fade.fade_fit_soh_pct end as fade_fit_soh_pct,
        case when fade.n_months >= 3 then fade.fade_fit_first_month end as fade_fit_first_month,
        coalesce(fade.n_months, 0) as n_months,
        daily_totals.lifetime_efc,
        daily_totals.lifetime_energy_in_kwh,
        daily_totals.lifetime_energy_out_kwh,
        case
            when rte_30d_flag.flag = 'ok' then last_30_days.energy_out_kwh / last_30_days.energy_in_kwh
        end as rte_30d,
        case
            when rte_30d_flag.flag = 'ok' then (
                last_30_days.energy_out_kwh
                + soc_change_30_days.soc_change_pct / 100.0 * latest_discharge_capacity.discharge_capacity_kwh
            ) / last_30_days.energy_in_kwh
        end as rte_30d_soc_adjusted,
        rte_30d_flag.flag as rte_30d_quality_flag,
        last_seen.last_seen_at,
        coalesce(anomalies.open_anomalies, 0) as open_anomalies,
        coalesce(anomalies.total_anomalies, 0) as total_anomalies
    from devices
    left join fade on devices.device_id = fade.device_id
    left join daily_totals on devices.device_id = daily_totals.device_id
    left join last_seen on devices.device_id = last_seen.device_id
    left join last_30_days on devices.device_id = last_30_days.device_id
    left join soc_change_30_days on devices.device_id = soc_change_30_days.device_id
    left join latest_discharge_capacity on devices.device_id = latest_discharge_capacity.device_id
    left join anomalies on devices.device_id = anomalies.device_id
    left join device_names on devices.device_id = device_names.device_id
    left join rte_30d_flag on devices.device_id = rte_30d_flag.device_id
)

select * from final
