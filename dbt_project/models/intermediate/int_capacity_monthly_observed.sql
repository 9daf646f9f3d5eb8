{{ config(materialized='table') }}

{#-
    Apparent capacity observed per device and month, from clean capacity segments. Per direction,
    segments further than capacity_segment_outlier_pct from the month's median segment capacity are
    dropped (a re-calibration the jump rule missed, a counter glitch), and the capacity is the ratio
    of the summed energy to the summed SoC change: longer segments, whose integer SoC rounding weighs
    less, count more. Charge segments see the capacity divided by the charging efficiency, discharge
    segments multiplied by the discharging efficiency (the counters sit outside the battery); the
    geometric mean of the two cancels the losses when they split evenly. A month needs
    capacity_min_segments_per_direction segments of each direction, else its capacity is null.
-#}

with

clean_segments as (
    select
        device_id,
        {{ reporting_period('month', 'segment_start') }} as month,
        event_type,
        event_start,
        energy_kwh,
        soc_swing_pct,
        apparent_capacity_kwh
    from {{ ref('int_battery_capacity_segments') }}
    where is_clean
),

monthly_medians as (
    select
        device_id,
        month,
        event_type,
        percentile_cont(0.5) within group (order by apparent_capacity_kwh) as median_capacity_kwh
    from clean_segments
    group by device_id, month, event_type
),

kept_segments as (
    select clean_segments.*
    from clean_segments
    inner join monthly_medians
        on
            clean_segments.device_id = monthly_medians.device_id
            and clean_segments.month = monthly_medians.month
            and clean_segments.event_type = monthly_medians.event_type
    where
        abs(clean_segments.apparent_capacity_kwh / monthly_medians.median_capacity_kwh - 1)
        <= {{ var('capacity_segment_outlier_pct') }} / 100.0
),

by_direction as (
    select
        device_id,
        month,
        event_type,
        count(*) as segments,
        count(distinct event_start) as events,
        sum(soc_swing_pct) as soc_swing_pct,
        100.0 * sum(energy_kwh) / sum(soc_swing_pct) as capacity_kwh,
        -- The spread of the segments' capacities as a standard error of their mean, relative (%).
        100.0 * sqrt(coalesce(var_samp(apparent_capacity_kwh), 0) / count(*))
        / nullif(avg(apparent_capacity_kwh), 0) as stderr_pct
    from kept_segments
    group by device_id, month, event_type
),

monthly_by_direction as (
    select
        device_id,
        month,
        coalesce(sum(events) filter (where event_type = 'charge'), 0) as n_charge_events,
        coalesce(sum(events) filter (where event_type = 'discharge'), 0) as n_discharge_events,
        coalesce(sum(segments) filter (where event_type = 'charge'), 0) as n_charge_segments,
        coalesce(sum(segments) filter (where event_type = 'discharge'), 0) as n_discharge_segments,
        max(capacity_kwh) filter (where event_type = 'charge') as charge_capacity_kwh,
        max(capacity_kwh) filter (where event_type = 'discharge') as discharge_capacity_kwh,
        max(stderr_pct) filter (where event_type = 'charge') as charge_stderr_pct,
        max(stderr_pct) filter (where event_type = 'discharge') as discharge_stderr_pct
    from by_direction
    group by device_id, month
),

final as (
    select
        device_id,
        month,
        n_charge_events,
        n_discharge_events,
        n_charge_segments,
        n_discharge_segments,
        charge_capacity_kwh,
        discharge_capacity_kwh,
        charge_stderr_pct,
        discharge_stderr_pct,
        case
            when
                n_charge_segments >= {{ var('capacity_min_segments_per_direction') }}
                and n_discharge_segments >= {{ var('capacity_min_segments_per_direction') }}
                then sqrt(charge_capacity_kwh * discharge_capacity_kwh)
        end as apparent_capacity_kwh,
        -- The geometric mean's relative error is half the root sum of squares of the two.
        case
            when
                n_charge_segments >= {{ var('capacity_min_segments_per_direction') }}
                and n_discharge_segments >= {{ var('capacity_min_segments_per_direction') }}
                then sqrt(power(charge_stderr_pct, 2) + power(discharge_stderr_pct, 2)) / 2
        end as capacity_stderr_pct
    from monthly_by_direction
)

select * from final
