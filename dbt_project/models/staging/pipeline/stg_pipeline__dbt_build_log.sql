{#- One row per dbt invocation, as the on-run-end hook record_build wrote it. -#}

with

build_log as (
    select
        invocation_id,
        command,
        started_at,
        finished_at,
        succeeded,
        nodes_run,
        nodes_failed
    from {{ source('pipeline', 'dbt_build_log') }}
),

final as (
    select * from build_log
)

select * from final
