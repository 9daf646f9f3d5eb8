{#-
    One row per pipeline run, loads and builds alike, for the operators' picture of the pipeline over
    time: when it ran, how long, whether it succeeded and what it moved. A view over the load log and
    the build log (both small, one row per run), so it costs a build nothing.
-#}

with

loads as (
    select * from {{ ref('stg_raw__load_log') }}
),

builds as (
    select * from {{ ref('stg_pipeline__dbt_build_log') }}
),

load_runs as (
    select
        'load' as run_kind,
        loads.load_id::text as run_id,
        loads.started_at,
        loads.finished_at,
        case when {{ load_is_interrupted('loads') }} then 'interrupted' else loads.status end as status,
        loads.status in ('succeeded', 'finished_with_rejects') as succeeded,
        loads.points_landed,
        loads.files_quarantined,
        null::integer as nodes_run,
        null::integer as nodes_failed
    from loads
),

build_runs as (
    select
        'build' as run_kind,
        builds.invocation_id as run_id,
        builds.started_at,
        builds.finished_at,
        case when builds.succeeded then 'succeeded' else 'failed' end as status,
        builds.succeeded,
        null::bigint as points_landed,
        null::integer as files_quarantined,
        builds.nodes_run,
        builds.nodes_failed
    from builds
),

final as (
    select
        *,
        extract(epoch from finished_at - started_at) as duration_seconds
    from load_runs
    union all
    select
        *,
        extract(epoch from finished_at - started_at) as duration_seconds
    from build_runs
)

select * from final
