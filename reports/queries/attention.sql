-- Devices that need a look, each with every reason that applies.
with

health as (
    select * from fct_device_health
),

devices as (
    select * from dim_devices
),

newest as (
    select max(last_seen_at) as reading_at from health
),

reasons as (
    select
        health.device_id,
        'SoH below 80 %' as reason
    from health
    where health.soh_apparent_pct < 80
    union all
    select
        health.device_id,
        'fading faster than 5 points a year' as reason
    from health
    where health.fade_pct_per_year > 5
    union all
    select
        health.device_id,
        'open anomalies' as reason
    from health
    where health.open_anomalies > 0
    union all
    select
        health.device_id,
        'silent for over a day' as reason
    from health cross join newest
    where health.last_seen_at < newest.reading_at - interval '1 day'
    union all
    select
        devices.device_id,
        'vendor warning state' as reason
    from devices
    where devices.is_in_warning_state
),

final as (
    select
        health.device_id::text as device_id,
        coalesce(health.device_name, health.device_id::text) as device_name,
        string_agg(reasons.reason, '; ' order by reasons.reason) as reasons,
        health.soh_apparent_pct,
        health.fade_pct_per_year,
        health.open_anomalies,
        health.last_seen_at
    from reasons
    inner join health on reasons.device_id = health.device_id
    group by
        health.device_id, health.device_name, health.soh_apparent_pct, health.fade_pct_per_year,
        health.open_anomalies, health.last_seen_at
)

select * from final
order by device_name
