{#-
    TEMPLATE: copy to dbt_project/models/marts/degradation/fct_<what_it_holds>.sql and replace the
    parts in capitals. One or two sentences here: what one row is, and the method in words.
-#}

with

samples as (
    -- The battery timeline: one row per device and sample, SoC and power carried forward, each row
    -- standing for `counted_ms` milliseconds (gaps capped). Use it for anything time-weighted.
    select
        device_id,
        recorded_at,
        soc_pct,
        battery_power_w,
        counted_ms / 1000.0::double precision as seconds_counted
    from {{ ref('int_battery_samples') }}
    where soc_pct is not null
),

per_device_and_period as (
    select
        device_id,
        {{ reporting_period('day', 'recorded_at') }} as period_start,
        sum(case when soc_pct >= {{ var('high_soc_pct') }} then seconds_counted else 0 end) / 3600.0
            as hours_matching,
        sum(seconds_counted) / 3600.0 as hours_observed
    from samples
    group by device_id, {{ reporting_period('day', 'recorded_at') }}
),

final as (
    select
        device_id,
        period_start,
        hours_matching,
        hours_observed
    from per_device_and_period
)

select * from final
