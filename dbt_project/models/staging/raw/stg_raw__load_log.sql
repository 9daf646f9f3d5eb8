{#- One row per `loader load` run, with its status, where it ran and the counts it committed. -#}

with

load_log as (
    select
        load_id,
        source,
        started_at,
        finished_at,
        status,
        files_seen,
        files_landed,
        files_unchanged,
        files_quarantined,
        files_still_quarantined,
        pieces_landed,
        pieces_unchanged,
        points_landed,
        bytes_read,
        error,
        loader_version,
        loader_host,
        loader_pid
    from {{ source('raw', 'load_log') }}
),

final as (
    select * from load_log
)

select * from final
