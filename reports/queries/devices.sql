-- One row per device with its latest health: the fleet table and the device pages' list.
select
    health.device_id::text as device_id,
    coalesce(health.device_name, health.device_id::text) as device_name,
    devices.device_state,
    devices.is_in_warning_state,
    health.soh_apparent_pct,
    health.soh_month,
    health.fade_pct_per_year,
    health.fade_r2,
    health.n_months,
    health.lifetime_efc,
    health.rte_30d,
    health.rte_30d_quality_flag,
    health.last_seen_at,
    health.open_anomalies
from fct_device_health as health
left join dim_devices as devices on health.device_id = devices.device_id
order by health.device_name
