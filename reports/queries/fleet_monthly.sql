-- The fleet per month: cycles, throughput, efficiency and the SoH spread.
select
    month,
    devices,
    median_soh_apparent_pct,
    worst_soh_apparent_pct,
    total_efc,
    efc_per_device,
    total_throughput_kwh,
    fleet_rte
from fct_fleet_monthly
order by month
