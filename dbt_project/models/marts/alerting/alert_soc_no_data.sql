{#-
    Devices that reported state of charge before but not within `low_soc_max_age`: the "no data"
    alert, kept apart from the low-SoC alert so that silence never looks like a healthy battery,
    nor a stale low reading like a current one. Devices that never report SoC are not listed.
-#}

with

devices as (
    select
        device_id,
        device_name
    from {{ ref('dim_devices') }}
),

newest_landed as (
    select
        device_id,
        recorded_at
    from {{ ref('stg_raw__latest_readings') }}
    where metric_name = '{{ var("soc_metric_name") }}'
),

final as (
    select
        devices.device_id,
        devices.device_name,
        newest_landed.recorded_at as last_reading_at,
        extract(epoch from now() - newest_landed.recorded_at) as age_seconds
    from devices
    inner join newest_landed on devices.device_id = newest_landed.device_id
    where newest_landed.recorded_at <= now() - interval '{{ var("low_soc_max_age") }}'
)

select * from final
