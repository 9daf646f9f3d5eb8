-- Loads and builds of the last 30 days.
select
    run_kind,
    started_at,
    finished_at,
    status,
    succeeded,
    points_landed,
    nodes_run,
    duration_seconds
from pipeline_runs
where started_at > now() - interval '30 days'
order by started_at
