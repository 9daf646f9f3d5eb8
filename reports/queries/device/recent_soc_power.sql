-- The last seven days of each device's state of charge and battery power, hourly from the rollup.
with

hourly as (
    select * from battery_telemetry_hourly
    where metric_name in ('{{ var("soc_metric_name") }}', '{{ var("battery_power_metric_name") }}')
),

newest as (
    select
        device_id,
        max(hour_start) as hour_start
    from hourly
    group by device_id
),

final as (
    select
        hourly.device_id::text as device_id,
        hourly.metric_name,
        hourly.hour_start,
        hourly.value_avg,
        hourly.value_min,
        hourly.value_max
    from hourly
    inner join newest on hourly.device_id = newest.device_id
    where hourly.hour_start > newest.hour_start - interval '7 days'
)

select * from final
order by device_id, metric_name, hour_start
