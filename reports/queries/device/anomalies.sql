-- Anomalies on a timeline.
select
    device_id::text as device_id,
    anomaly_type,
    metric_name,
    started_at,
    coalesce(ended_at, started_at) as ended_at,
    details
from fct_telemetry_anomalies
order by device_id, started_at
