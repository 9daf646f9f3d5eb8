-- Devices the alerting system is alerting on right now: low state of charge, or no data.
select
    device_id::text as device_id,
    device_name,
    'low SoC' as alert,
    soc_pct,
    reading_at as last_reading_at
from alert_low_soc
union all
select
    device_id::text as device_id,
    device_name,
    'no data' as alert,
    null::double precision as soc_pct,
    last_reading_at
from alert_soc_no_data
order by alert, device_name
