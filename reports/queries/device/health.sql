-- The device's headline figures (one row).
select
    device_id::text as device_id,
    device_name,
    soh_apparent_pct,
    apparent_capacity_kwh,
    ref_capacity_kwh,
    soh_month,
    fade_pct_per_year,
    fade_r2,
    n_months,
    lifetime_efc,
    lifetime_energy_in_kwh,
    rte_30d,
    rte_30d_quality_flag,
    last_seen_at,
    open_anomalies,
    total_anomalies
from fct_device_health
