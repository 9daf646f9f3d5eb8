{{ config(materialized='view') }}

{#-
    A view: it costs a build nothing, and reads the small per-event tables at query time.
    Charge and discharge events (hysteresis segmentation in int_battery_events) with what their
    capacity segments measured: the SoC swing and counter energy over the event's uncut stretches
    between SoC readings, and the apparent capacity of its clean segments.
-#}

with

events as (
    select * from {{ ref('int_battery_events') }}
),

segments as (
    select * from {{ ref('int_battery_capacity_segments') }}
),

event_segments as (
    select
        device_id,
        event_start,
        min(segment_start) as measured_from,
        max(segment_end) as measured_to,
        {{ first_by('soc_start', 'segment_start') }} as soc_start,
        {{ last_by('soc_end', 'segment_start') }} as soc_end,
        sum(soc_swing_pct) as soc_swing_pct,
        sum(energy_kwh) as counter_energy_kwh,
        count(*) as n_segments,
        count(*) filter (where is_clean) as n_clean_segments,
        100.0 * sum(energy_kwh) filter (where is_clean)
        / nullif(sum(soc_swing_pct) filter (where is_clean), 0) as apparent_capacity_kwh,
        bool_or(ended_by = 'gap') as has_gap,
        bool_or(ended_by = 'recalibration_jump') as has_recalibration_jump,
        bool_or(ended_by = 'counter_unusable') as has_unusable_counter,
        mode() within group (order by reject_reason) as most_common_reject_reason
    from segments
    group by device_id, event_start
),

final as (
    select
        events.device_id,
        events.event_start,
        events.event_type,
        events.event_end,
        event_segments.measured_from,
        event_segments.measured_to,
        extract(epoch from event_segments.measured_to - event_segments.measured_from) / 3600.0 as measured_hours,
        event_segments.soc_start,
        event_segments.soc_end,
        event_segments.soc_swing_pct,
        coalesce(event_segments.counter_energy_kwh, events.power_energy_kwh) as energy_kwh,
        case when event_segments.counter_energy_kwh is not null then 'counter' else 'power_integral' end
            as energy_method,
        events.avg_power_kw,
        events.power_cv,
        events.sample_count,
        events.lasting_runs,
        events.idle_minutes,
        coalesce(event_segments.n_segments, 0) as n_segments,
        coalesce(event_segments.n_clean_segments, 0) as n_clean_segments,
        coalesce(event_segments.has_gap, false) as has_gap,
        coalesce(event_segments.has_recalibration_jump, false) as has_recalibration_jump,
        coalesce(event_segments.has_unusable_counter, false) as has_unusable_counter,
        event_segments.apparent_capacity_kwh,
        case
            when event_segments.n_clean_segments > 0 then null
            when event_segments.n_segments is null then 'no_soc_segment'
            else event_segments.most_common_reject_reason
        end as reject_reason,
        coalesce(event_segments.n_clean_segments, 0) > 0 as is_clean
    from events
    left join event_segments
        on events.device_id = event_segments.device_id and events.event_start = event_segments.event_start
)

select * from final
