-- The pipeline's health now (one row).
select
    last_load_at,
    seconds_since_last_load,
    last_build_at,
    seconds_since_last_build,
    pending_pieces,
    rejected_points_last_day,
    quarantined_responses_last_day,
    interrupted_loads_last_day,
    failed_loads_last_day
from pipeline_health
