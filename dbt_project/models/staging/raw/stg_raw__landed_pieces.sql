{#- Every telemetry piece as landed, without its payload: what pipeline_health counts to see landed data
    waiting for a build (stg_raw__telemetry_pieces is the admission ledger, of admitted pieces only).
    Pieces compaction wrote never wait for a build (it merges transformed pieces only). -#}

with

landed_pieces as (
    select
        piece_id,
        load_id,
        loaded_at,
        device_id,
        metric_name,
        point_count
    from {{ source('raw', 'telemetry_pieces') }}
    where compacted_at is null
),

final as (
    select * from landed_pieces
)

select * from final
