{#-
    Charge and discharge events: runs of consecutive samples in which the battery power (in the
    device's detected sign) stays above the idle threshold in one direction. Each event is measured
    from the last sample before it to the first sample after it, so the energy the counters counted
    and the SoC change cover the same span. apparent_capacity_kwh = energy / (SoC change / 100);
    an event is clean, and its capacity used, only if SoC moved at least
    apparent_capacity_min_soc_swing_pct the right way, power was steady, and there was no gap, no
    counter reset or jump and no missing reading inside the span.
-#}

{%- set idle_w = var('battery_idle_max_power_w') %}

with

samples as (
    select
        samples.device_id,
        samples.recorded_at,
        samples.soc_pct,
        samples.battery_power_w * power_sign.charge_sign as charge_power_w,
        samples.import_delta_kwh,
        samples.export_delta_kwh,
        samples.has_counter_reset,
        samples.has_counter_jump,
        samples.is_gap_after,
        samples.seconds_counted,
        case
            when samples.battery_power_w * power_sign.charge_sign > {{ idle_w }} then 'charge'
            when samples.battery_power_w * power_sign.charge_sign < -{{ idle_w }} then 'discharge'
            else 'idle'
        end as battery_state
    from {{ ref('int_battery_samples') }} as samples
    inner join {{ ref('int_device_power_sign') }} as power_sign
        on samples.device_id = power_sign.device_id
),

samples_in_context as (
    select
        *,
        lag(recorded_at) over device_in_time as previous_recorded_at,
        lag(soc_pct) over device_in_time as previous_soc_pct,
        lag(is_gap_after) over device_in_time as previous_is_gap_after,
        lead(recorded_at) over device_in_time as next_recorded_at,
        lead(soc_pct) over device_in_time as next_soc_pct,
        lead(import_delta_kwh) over device_in_time as next_import_delta_kwh,
        lead(export_delta_kwh) over device_in_time as next_export_delta_kwh,
        lead(has_counter_reset) over device_in_time as next_has_counter_reset,
        lead(has_counter_jump) over device_in_time as next_has_counter_jump,
        row_number() over device_in_time
        - row_number() over (partition by device_id, battery_state order by recorded_at) as state_run
    from samples
    window device_in_time as (partition by device_id order by recorded_at)
),

event_samples as (
    select
        *,
        recorded_at = min(recorded_at) over event_rows as is_first,
        recorded_at = max(recorded_at) over event_rows as is_last
    from samples_in_context
    where battery_state in ('charge', 'discharge')
    window event_rows as (partition by device_id, battery_state, state_run)
),

events as (
    select
        device_id,
        battery_state as event_type,
        min(recorded_at) as event_start,
        max(recorded_at) as event_end,
        max(case when is_first then previous_recorded_at end) as measured_from,
        max(case when is_last then next_recorded_at end) as measured_to,
        max(case when is_first then previous_soc_pct end) as soc_start,
        max(case when is_last then next_soc_pct end) as soc_end,
        sum(case when battery_state = 'charge' then import_delta_kwh else export_delta_kwh end)
        + max(
            case
                when is_last and battery_state = 'charge' then next_import_delta_kwh
                when is_last then next_export_delta_kwh
            end
        ) as counter_energy_kwh,
        sum(abs(charge_power_w) * seconds_counted) / 3600000.0 as power_energy_kwh,
        avg(abs(charge_power_w)) / 1000.0 as avg_power_kw,
        stddev_pop(abs(charge_power_w)) / nullif(avg(abs(charge_power_w)), 0) as power_cv,
        count(*) as sample_count,
        count(*) - count(case when battery_state = 'charge' then import_delta_kwh else export_delta_kwh end)
            as samples_without_counter,
        bool_or(is_gap_after or (is_first and coalesce(previous_is_gap_after, true))) as has_gap,
        bool_or(has_counter_reset or (is_last and coalesce(next_has_counter_reset, false)))
            as has_counter_reset,
        bool_or(has_counter_jump or (is_last and coalesce(next_has_counter_jump, false)))
            as has_counter_jump
    from event_samples
    group by device_id, battery_state, state_run
),

measured as (
    select
        *,
        case when event_type = 'charge' then soc_end - soc_start else soc_start - soc_end end as soc_swing_pct,
        coalesce(counter_energy_kwh, power_energy_kwh) as energy_kwh,
        case when counter_energy_kwh is not null then 'counter' else 'power_integral' end as energy_method
    from events
),

classified as (
    select
        device_id,
        event_start,
        event_type,
        event_end,
        measured_from,
        measured_to,
        extract(epoch from measured_to - measured_from) / 3600.0 as measured_hours,
        soc_start,
        soc_end,
        soc_swing_pct,
        energy_kwh,
        energy_method,
        avg_power_kw,
        power_cv,
        sample_count,
        has_gap,
        has_counter_reset,
        has_counter_jump,
        case when soc_swing_pct > 0 then energy_kwh / (soc_swing_pct / 100.0) end as apparent_capacity_kwh,
        case
            when soc_start is null or soc_end is null then 'no_soc'
            when measured_to is null then 'still_running'
            when has_gap then 'gap'
            when has_counter_reset then 'counter_reset'
            when has_counter_jump then 'counter_jump'
            when energy_method != 'counter' or samples_without_counter > 0 then 'no_counter'
            when soc_swing_pct <= 0 then 'soc_moved_wrong_way'
            when soc_swing_pct < {{ var('apparent_capacity_min_soc_swing_pct') }} then 'small_soc_swing'
            when power_cv > {{ var('event_max_power_cv') }} then 'unsteady_power'
        end as reject_reason
    from measured
),

final as (
    select
        *,
        reject_reason is null as is_clean
    from classified
)

select * from final
