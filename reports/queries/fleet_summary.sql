-- The fleet's headline figures: devices that reported in the newest month, median and worst SoH now.
with

newest_month as (
    select devices from fct_fleet_monthly
    order by month desc
    limit 1
),

health as (
    select
        percentile_cont(0.5) within group (order by soh_apparent_pct) as median_soh_pct,
        min(soh_apparent_pct) as worst_soh_pct,
        avg(fade_pct_per_year) as mean_fade_pct_per_year,
        max(last_seen_at) as newest_reading_at
    from fct_device_health
),

final as (
    select
        newest_month.devices as devices_reporting,
        health.median_soh_pct,
        health.worst_soh_pct,
        health.mean_fade_pct_per_year,
        health.newest_reading_at
    from health
    left join newest_month on true
)

select * from final
