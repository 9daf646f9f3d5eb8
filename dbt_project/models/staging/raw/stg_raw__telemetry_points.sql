{{ config(materialized='ephemeral') }}

{#-
    Every point of this run's batch of pieces, typed, with the reason it is invalid (null when valid).
    Clean pieces (the usual case) take a fast path; the rest are judged point by point (about ten
    times slower per point: the planner repeats each derived expression wherever it is referenced).
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
        raw_pieces.payload -> 'data' as points,
        -- A clean piece (the usual case) has only [integer, plain decimal] points (the loader's
        -- is_plain_numeric), all within the valid time range, and a state of charge within the valid
        -- range: its points take the fast path below. Others are judged point by point.
        raw_pieces.is_plain_numeric
        and {{ epoch_ms_is_valid('raw_pieces.first_recorded_ms') }}
        and {{ epoch_ms_is_valid('raw_pieces.last_recorded_ms') }}
        and (
            batch_pieces.metric_name <> '{{ var("soc_metric_name") }}'
            or {{ piece_soc_is_valid('raw_pieces.payload') }}
        ) as is_clean
    from batch_pieces
    inner join {{ source('raw', 'telemetry_pieces') }} as raw_pieces
        on batch_pieces.piece_id = raw_pieces.piece_id
),

clean_points as (
    select
        piece_points.piece_id,
        point_element.point_index,
        piece_points.device_id,
        piece_points.metric_name,
        piece_points.loaded_at,
        to_timestamp((point_element.point ->> 0)::double precision / 1000) as recorded_at,
        (point_element.point ->> 1)::double precision as value,
        point_element.point as received_point,
        null::text as invalid_reason
    from piece_points
    cross join
        lateral
        jsonb_array_elements(piece_points.points) with ordinality as point_element (point, point_index)
    where piece_points.is_clean
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
    where not piece_points.is_clean
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
        piece_id,
        point_index,
        device_id,
        metric_name,
        loaded_at,
        point,
        recorded_ms,
        value_numeric,
        {{ telemetry_point_invalid_reason('is_pair', 'timestamp_type', 'recorded_ms', 'value_type',
                                          'value_numeric', 'metric_name', 'point') }} as invalid_reason
    from typed
),

judged_points as (
    select
        piece_id,
        point_index,
        device_id,
        metric_name,
        loaded_at,
        case when invalid_reason is null then to_timestamp(recorded_ms / 1000.0) end as recorded_at,
        case when invalid_reason is null then value_numeric::double precision end as value,
        point as received_point,
        invalid_reason
    from judged
),

final as (
    select * from clean_points
    union all
    select * from judged_points
)

select * from final
