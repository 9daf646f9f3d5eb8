{{
    config(
        materialized='incremental',
        unique_key=['piece_id', 'point_index'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=["{{ mark_telemetry_batch_transformed() }}"],
    )
}}

{#-
    Points that could not go into battery_telemetry, with the reason, so nothing is dropped silently.
    Built after the other models that read the batch (see depends_on at the end), because its
    post-hook closes the batch.
-#}

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

-- depends_on: {{ ref('battery_telemetry') }}
-- depends_on: {{ ref('int_telemetry_counter_deltas') }}
-- depends_on: {{ ref('int_battery_samples') }}
