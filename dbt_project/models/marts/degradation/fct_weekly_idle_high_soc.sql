{#-
    Worked example of docs/analyst-guide.md: hours per device and ISO week (starting Monday in
    reporting_timezone) that the battery sat idle at a high state of charge, a calendar-ageing
    stress. Idle means |power| at or below battery_idle_max_power_w; high means SoC at or above
    high_soc_pct.
-#}

with

samples as (
    select
        device_id,
        {{ reporting_period('week', 'recorded_at') }} as week_start,
        counted_ms / 1000.0::double precision as seconds_counted,
        soc_pct >= {{ var('high_soc_pct') }} as is_high_soc,
        abs(battery_power_w) <= {{ var('battery_idle_max_power_w') }} as is_idle
    from {{ ref('int_battery_samples') }}
    where soc_pct is not null and battery_power_w is not null and counted_ms is not null
),

final as (
    select
        device_id,
        week_start,
        sum(case when is_idle and is_high_soc then seconds_counted else 0 end) / 3600.0 as hours_idle_high_soc,
        sum(seconds_counted) / 3600.0 as hours_observed
    from samples
    group by device_id, week_start
)

select * from final
