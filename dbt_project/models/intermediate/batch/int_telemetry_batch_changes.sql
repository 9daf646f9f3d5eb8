{{ config(materialized='table') }}

{#-
    What this build's batch changes, per device and metric: the earliest and latest valid reading
    and how many there are. Each build replaces it with its own batch (batch_id), so the models that
    recompute what a batch touched read this small table, not the raw JSONB again.
-#}

with

valid_points as (
    select
        device_id,
        metric_name,
        recorded_at
    from {{ ref('stg_raw__telemetry_points') }}
    where invalid_reason is null
),

final as (
    select
        '{{ invocation_id }}'::text as batch_id,
        device_id,
        metric_name,
        min(recorded_at) as changed_from,
        max(recorded_at) as changed_to,
        count(*) as points
    from valid_points
    group by device_id, metric_name
)

select * from final
