{#- The loader's newest reading per device and metric, as landed (raw.latest_readings): what the
    alert views read before dbt has transformed it. A view, so an alert query reads the source's
    index directly. -#}

with

latest_readings as (
    select
        device_id,
        metric_name,
        recorded_at,
        value,
        piece_id,
        loaded_at
    from {{ source('raw', 'latest_readings') }}
),

final as (
    select
        device_id,
        metric_name,
        recorded_at,
        case when jsonb_typeof(value) = 'number' then (value #>> '{}')::double precision end as value,
        piece_id,
        loaded_at
    from latest_readings
)

select * from final
