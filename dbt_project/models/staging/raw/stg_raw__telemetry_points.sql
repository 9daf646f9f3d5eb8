{{ config(materialized='ephemeral') }}

{#-
    Every point of this run's batch of pieces, typed, with the reason it is invalid (null when valid).
    Ephemeral on purpose: it is compiled into each model that uses it, in the same run, so the
    batch it reads is the current invocation's.
    Scalars come from real columns, and the jsonb document is expanded once per piece: reading a
    large jsonb value once per output row de-toasts it for every row (minutes instead of seconds).
-#}

with

batch_pieces as (
    select
        piece_id,
        device_id,
        metric_name,
        loaded_at
    from {{ ref('stg_raw__telemetry_pieces') }}
    where batch_id = '{{ invocation_id }}'
),

piece_points as (
    select
        batch_pieces.piece_id,
        batch_pieces.device_id,
        batch_pieces.metric_name,
        batch_pieces.loaded_at,
        raw_pieces.payload -> 'data' as points
    from batch_pieces
    inner join {{ source('raw', 'telemetry_pieces') }} as raw_pieces
        on batch_pieces.piece_id = raw_pieces.piece_id
),

unnested as (
    select
        piece_points.piece_id,
        piece_points.device_id,
        piece_points.metric_name,
        piece_points.loaded_at,
        point_element.point_index,
        point_element.point
    from piece_points
    cross join
        lateral
        jsonb_array_elements(piece_points.points) with ordinality as point_element (point, point_index)
),

typed as (
    select
        piece_id,
        point_index,
        device_id,
        metric_name,
        loaded_at,
        point,
        case
            when jsonb_typeof(point) = 'array' then jsonb_array_length(point) = 2 else false
        end as is_pair,
        jsonb_typeof(point -> 0) as timestamp_type,
        jsonb_typeof(point -> 1) as value_type,
        case when jsonb_typeof(point -> 0) = 'number' then (point ->> 0)::numeric end as recorded_ms,
        case when jsonb_typeof(point -> 1) = 'number' then (point ->> 1)::numeric end as value_numeric
    from unnested
),

judged as (
    select
        *,
        {{ telemetry_point_invalid_reason('is_pair', 'timestamp_type', 'recorded_ms', 'value_type',
                                          'value_numeric', 'metric_name', 'point') }} as invalid_reason
    from typed
),

final as (
    select
        piece_id,
        point_index,
        device_id,
        metric_name,
        loaded_at,
        point as received_point,
        invalid_reason,
        case when invalid_reason is null then to_timestamp(recorded_ms / 1000.0) end as recorded_at,
        case when invalid_reason is null then value_numeric::double precision end as value
    from judged
)

select * from final
