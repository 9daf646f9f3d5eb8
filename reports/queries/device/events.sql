-- Charge and discharge events of the device's last 90 days: when, how deep, how much energy, and
-- whether clean enough to measure capacity (a page stays small however long the history).
with

events as (
    select * from fct_battery_events
),

newest as (
    select
        device_id,
        max(event_start) as event_start
    from events
    group by device_id
),

final as (
    select
        events.device_id::text as device_id,
        events.event_start,
        events.event_end,
        events.event_type,
        events.soc_swing_pct,
        events.energy_kwh,
        events.apparent_capacity_kwh,
        events.is_clean
    from events
    inner join newest on events.device_id = newest.device_id
    where events.event_start > newest.event_start - interval '90 days'
)

select * from final
order by device_id, event_start
