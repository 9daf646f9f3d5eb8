-- Daily equivalent full cycles and throughput.
select
    device_id::text as device_id,
    day,
    efc_energy,
    energy_in_kwh,
    energy_out_kwh,
    soc_min,
    soc_max,
    coverage_pct,
    quality_flag
from fct_battery_daily
order by device_id, day
