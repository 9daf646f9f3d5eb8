-- Apparent capacity per month with its standard error, the SoH index, and the fade fit through it.
with

health as (
    select * from fct_device_health
),

capacity as (
    select * from fct_capacity_monthly
),

final as (
    select
        capacity.device_id::text as device_id,
        capacity.month,
        capacity.apparent_capacity_kwh,
        capacity.apparent_capacity_kwh * (1 - capacity.capacity_stderr_pct / 100) as capacity_low_kwh,
        capacity.apparent_capacity_kwh * (1 + capacity.capacity_stderr_pct / 100) as capacity_high_kwh,
        capacity.capacity_stderr_pct,
        capacity.soh_apparent_pct,
        capacity.quality_flag,
        -- The mart's fade fit, drawn over the months it spans.
        case
            when capacity.month between health.fade_fit_first_month and health.soh_month then
                health.fade_fit_soh_pct
                + health.fade_pct_per_year * (health.soh_month - capacity.month) / 365.25
        end as fade_fit_soh_pct
    from capacity
    inner join health on capacity.device_id = health.device_id
)

select * from final
order by device_id, month
