{#-
    The pipeline's own health, one row, for the alerting system to scrape every few seconds: how long
    since a load and a build last succeeded, how much landed data waits for a build, what was
    rejected in the last day, and loads that died. Every part is an index probe or a range scan of
    the last day (the load log, quarantine and rejects have time indexes; pending pieces a partial
    index), so it stays cheap as history grows. Reads raw and the build log through staging views
    (never through a table a build fills), like the other alert views: a health check must not wait
    for the build it is checking.
-#}

with

last_load as (
    select max(finished_at) as finished_at
    from {{ ref('stg_raw__load_log') }}
    where status in ('succeeded', 'finished_with_rejects')
),

last_build as (
    select max(finished_at) as finished_at
    from {{ ref('stg_pipeline__dbt_build_log') }}
    where succeeded and command in ('build', 'run')
),

admitted as (
    select max(piece_id) as newest_piece_id
    from {{ ref('stg_raw__telemetry_pieces') }}
),

admitted_pending as (
    -- Through the ledger's partial index on pending pieces.
    select count(*) as pieces
    from {{ ref('stg_raw__telemetry_pieces') }}
    where transformed_at is null
),

landed_not_admitted as (
    select count(*) as pieces
    from {{ ref('stg_raw__landed_pieces') }}
    where piece_id > coalesce((select admitted.newest_piece_id from admitted), 0)
),

loads_last_day as (
    select
        count(*) filter (where load_log.status = 'interrupted' or {{ load_is_interrupted('load_log') }})
            as interrupted,
        count(*) filter (where load_log.status = 'failed') as failed
    from {{ ref('stg_raw__load_log') }} as load_log
    where load_log.started_at > now() - interval '1 day'
),

rejected_points_last_day as (
    select count(*) as points
    from {{ ref('dq_telemetry_rejected_points') }}
    where loaded_at > now() - interval '1 day'
),

quarantined_last_day as (
    select count(*) as responses
    from {{ ref('stg_raw__quarantine') }}
    where quarantined_at > now() - interval '1 day' and disposition = 'rejected'
),

final as (
    select
        last_load.finished_at as last_load_at,
        extract(epoch from now() - last_load.finished_at) as seconds_since_last_load,
        last_build.finished_at as last_build_at,
        extract(epoch from now() - last_build.finished_at) as seconds_since_last_build,
        admitted_pending.pieces + landed_not_admitted.pieces as pending_pieces,
        rejected_points_last_day.points as rejected_points_last_day,
        quarantined_last_day.responses as quarantined_responses_last_day,
        loads_last_day.interrupted as interrupted_loads_last_day,
        loads_last_day.failed as failed_loads_last_day
    from last_load
    cross join last_build
    cross join admitted_pending
    cross join landed_not_admitted
    cross join loads_last_day
    cross join rejected_points_last_day
    cross join quarantined_last_day
)

select * from final
