{{ config(materialized='view') }}

{#-
    Devices whose latest state of charge is below the threshold and recent. Queried every few
    seconds by the alerting system: see the model's docs for the query shape that keeps it cheap.
-#}

with

devices as (
    select
        device_id,
        device_name
    from {{ ref('dim_devices') }}
),

latest_soc as (
    select
        devices.device_id,
        devices.device_name,
        latest.recorded_at,
        latest.value
    from devices
    cross join lateral (
        select
            telemetry.recorded_at,
            telemetry.value
        from {{ ref('battery_telemetry') }} as telemetry
        where
            telemetry.device_id = devices.device_id
            and telemetry.metric_name = '{{ var("soc_metric_name") }}'
            and telemetry.recorded_at > now() - interval '{{ var("low_soc_max_age") }}'
        order by telemetry.recorded_at desc
        limit 1
    ) as latest
),

final as (
    select
        device_id,
        device_name,
        value as soc_pct,
        recorded_at as reading_at,
        {{ var('low_soc_threshold_pct') }} as threshold_pct
    from latest_soc
    where value < {{ var('low_soc_threshold_pct') }}
)

select * from final
