{{
    config(
        unique_key=['piece_id', 'point_index'],
        incremental_strategy='delete+insert',
        post_hook=[
            "create index if not exists {{ this.identifier }}_loaded_at_idx on {{ this }} (loaded_at)",
        ],
    )
}}

{#- Points that could not go into battery_telemetry, with the reason, so nothing is dropped silently. -#}

with

final as (
    select
        piece_id,
        point_index,
        device_id,
        metric_name,
        loaded_at,
        received_point,
        invalid_reason
    from {{ ref('stg_raw__telemetry_points') }}
    where invalid_reason is not null
)

select * from final
