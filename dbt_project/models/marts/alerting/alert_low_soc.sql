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

latest_landed as (
    -- Readings the loader has committed that dbt may not have transformed yet (the loader keeps only
    -- state of charge within the valid range there).
    select
        device_id,
        recorded_at,
        value
    from {{ ref('stg_raw__latest_readings') }}
    where
        metric_name = '{{ var("soc_metric_name") }}'
        and recorded_at > now() - interval '{{ var("low_soc_max_age") }}'
        and {{ soc_is_valid('value') }}
),

latest_transformed as (
    select
        devices.device_id,
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

latest_soc as (
    select distinct on (candidates.device_id)
        candidates.device_id,
        devices.device_name,
        candidates.recorded_at,
        candidates.value
    from (
        select * from latest_transformed
        union all
        select * from latest_landed
    ) as candidates
    inner join devices on candidates.device_id = devices.device_id
    order by candidates.device_id asc, candidates.recorded_at desc
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
