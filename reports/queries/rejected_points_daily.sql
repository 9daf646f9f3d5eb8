-- Rejected points per day and reason.
select
    date_trunc('day', loaded_at) as day,
    invalid_reason,
    count(*) as points
from dq_telemetry_rejected_points
group by 1, 2
order by 1, 2
