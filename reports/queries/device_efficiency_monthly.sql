-- Each device's round-trip efficiency per month, where the month's figure is trustworthy.
select
    device_id::text as device_id,
    device_name,
    month,
    rte,
    efc_energy,
    quality_flag
from fct_round_trip_efficiency_monthly
where quality_flag = 'ok'
order by device_name, month
