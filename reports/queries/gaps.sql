-- Gaps in the telemetry: each a stretch of time a device sent nothing.
select
    anomalies.device_id::text as device_id,
    devices.device_name,
    anomalies.metric_name,
    anomalies.started_at,
    anomalies.ended_at,
    extract(epoch from anomalies.ended_at - anomalies.started_at) / 3600 as hours
from fct_telemetry_anomalies as anomalies
left join dim_devices as devices on anomalies.device_id = devices.device_id
where anomalies.anomaly_type = 'gap'
order by anomalies.started_at
