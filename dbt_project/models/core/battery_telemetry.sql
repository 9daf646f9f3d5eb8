{{
    config(
        unique_key=['device_id', 'metric_name', 'recorded_at'],
        compression=telemetry_compression(['device_id', 'metric_name']),
        retention_policy=({'drop_after': var('telemetry_retention')} if var('telemetry_retention') else none),
    )
}}

{#-
    The narrow telemetry table: one row per device, metric and time. Incremental upsert on that key:
    when the same point arrives again, the most recently loaded value wins (ties: the later piece,
    then the later position in it), so a corrected re-send fixes history and a repeat changes nothing.
-#}

with

valid_points as (
    select
        recorded_at,
        device_id,
        metric_name,
        value,
        loaded_at,
        piece_id,
        point_index
    from {{ ref('stg_raw__telemetry_points') }}
    where invalid_reason is null
),

latest_per_key as (
    select distinct on (device_id, metric_name, recorded_at)
        recorded_at,
        device_id,
        metric_name,
        value
    from valid_points
    order by device_id asc, metric_name asc, recorded_at asc, loaded_at desc, piece_id desc, point_index desc
),

final as (
    select
        recorded_at,
        device_id,
        metric_name,
        value
    from latest_per_key
)

select * from final
