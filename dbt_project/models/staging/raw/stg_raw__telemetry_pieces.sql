{{
    config(
        materialized='incremental',
        unique_key='piece_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['piece_id'], 'unique': True},
            {'columns': ['batch_id']},
            {'columns': ['loaded_at']},
        ],
        post_hook=[
            "create index if not exists {{ this.identifier }}_pending_idx on {{ this }} (piece_id)"
            ~ " where transformed_at is null",
        ],
    )
}}

{#-
    The admission ledger: which raw pieces this run transforms (its batch), and which earlier ones
    are done. A piece joins the batch of the first run that sees it committed; it stays pending
    (transformed_at is null) until the close_telemetry_batch on-run-end hook marks the batch done,
    so a failed run's batch is taken up again by the next one.
-#}

with

{% if is_incremental() %}
    admission_window as (
        select max(loaded_at) - interval '{{ var("late_commit_allowance") }}' as starts_after
        from {{ this }}
    ),

    admitted_recently as (
        select admitted.piece_id
        from {{ this }} as admitted
        cross join admission_window
        where admitted.loaded_at > admission_window.starts_after
    ),
{% endif %}

newly_landed as (
    select
        raw_pieces.piece_id,
        raw_pieces.load_id,
        raw_pieces.loaded_at,
        raw_pieces.source_uri,
        raw_pieces.device_id,
        raw_pieces.metric_name,
        raw_pieces.point_count
    from {{ source('raw', 'telemetry_pieces') }} as raw_pieces
    {% if is_incremental() %}
        cross join admission_window
        where
            (raw_pieces.loaded_at > admission_window.starts_after or admission_window.starts_after is null)
            and raw_pieces.piece_id not in (select admitted_recently.piece_id from admitted_recently)
            -- Compaction merges transformed pieces only: their readings are in battery_telemetry.
            and raw_pieces.compacted_at is null
    {% endif %}
),

{% if is_incremental() %}
    pending_from_failed_runs as (
        select
            piece_id,
            load_id,
            loaded_at,
            source_uri,
            device_id,
            metric_name,
            point_count
        from {{ this }}
        where transformed_at is null
    ),
{% endif %}

batch as (
    select * from newly_landed
    {% if is_incremental() %}
        union all
        select * from pending_from_failed_runs
    {% endif %}
),

final as (
    select
        piece_id,
        load_id,
        loaded_at,
        source_uri,
        device_id,
        metric_name,
        point_count,
        '{{ invocation_id }}'::text as batch_id,
        cast(null as timestamptz) as transformed_at
    from batch
)

select * from final
