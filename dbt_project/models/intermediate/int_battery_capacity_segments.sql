{{
    config(
        incremental_strategy='replace_windows',
        window_column='event_start',
        indexes=[{'columns': ['device_id', 'event_start', 'segment_start'], 'unique': True}],
    )
}}

{#-
    Capacity segments: the evidence for apparent capacity. Within each charge or discharge event,
    consecutive SoC readings form steps; a step that is a BMS re-calibration jump, spans a gap (SoC
    readings further apart than the gap cap) or a counter interval that cannot be trusted (reset,
    jump, missing or too sparse readings) cuts the event, and each uncut stretch is one segment,
    measured from its first to its last reading at which SoC moved the event's way. Its energy comes from the battery counters interpolated linearly in time
    to the segment's two SoC readings (counters are read on their own clock), so energy and SoC change
    cover exactly the same span. A segment is clean evidence when SoC moved at least
    capacity_segment_min_soc_swing_pct the event's way and neither end is a saturated reading.
    Incremental: per device the batch touched, the segments of the events from
    battery_event_windows' recompute_from on are recomputed (strategy 'replace_windows').
-#}

{%- set gap_cap = var('sample_gap_cap_seconds') %}
{%- set max_counter_interval = var('counter_interpolation_max_seconds') %}
{#- Readings this far before a window's start give its first steps their previous SoC reading and
    its first counter brackets their reading before. -#}
{%- set lookback_seconds = gap_cap + max_counter_interval %}

with

{% if is_incremental() %}
    recompute_windows as (
        {{ battery_event_windows(ref('int_battery_events'), after_rewrite=true) }}
    ),
{% endif %}

events as (
    select events.*
    from {{ ref('int_battery_events') }} as events
    {% if is_incremental() %}
        inner join recompute_windows
            on events.device_id = recompute_windows.device_id and events.event_start >= recompute_windows.recompute_from
    {% endif %}
),

timeline as (
    -- Every row, with the energy battery power moved into and out of the battery before it (power
    -- carried forward, gaps not counted): the shape counters are interpolated along.
    select
        samples.*,
        coalesce(sum(greatest(samples.battery_power_w * power_sign.charge_sign, 0) * samples.counted_ms / 1000.0::double precision)
            over power_before, 0) / 3600000.0 as charge_work_kwh,
        coalesce(sum(greatest(-samples.battery_power_w * power_sign.charge_sign, 0) * samples.counted_ms / 1000.0::double precision)
            over power_before, 0) / 3600000.0 as discharge_work_kwh
    from (
        {{ device_rows_since(ref('int_battery_samples'), 'recompute_windows' if is_incremental() else none,
                             lookback_seconds=lookback_seconds) }}
    ) as samples
    inner join {{ ref('int_device_power_sign') }} as power_sign
        on samples.device_id = power_sign.device_id
    window power_before as (
        partition by samples.device_id order by samples.recorded_at rows between unbounded preceding and 1 preceding
    )
),

readings as (
    -- SoC and counter readings only, with each counter summed into a running energy total: resets
    -- add the new reading, jumps nothing.
    select
        device_id,
        recorded_at,
        is_soc_reading,
        soc_pct,
        is_soc_recalibration,
        charge_work_kwh,
        discharge_work_kwh,
        is_import_reading,
        is_export_reading,
        sum(coalesce(import_delta_kwh, 0)) over device_in_time as import_total_kwh,
        sum(coalesce(export_delta_kwh, 0)) over device_in_time as export_total_kwh,
        -- An interval ending at this reading is unusable if it has no delta (first reading or jump) or a reset.
        is_import_reading and (import_delta_kwh is null or has_counter_reset) as is_bad_import,
        is_export_reading and (export_delta_kwh is null or has_counter_reset) as is_bad_export
    from timeline
    where not is_hour_boundary and (is_soc_reading or is_import_reading or is_export_reading)
    window device_in_time as (partition by device_id order by recorded_at)
),

counter_neighbours as (
    select
        *,
        sum(case when is_bad_import then 1 else 0 end) over device_in_time as bad_imports_so_far,
        sum(case when is_bad_export then 1 else 0 end) over device_in_time as bad_exports_so_far,
        count(*) filter (where is_import_reading) over device_in_time as import_run,
        count(*) filter (where is_export_reading) over device_in_time as export_run,
        lead(recorded_at) over import_readings as next_import_at,
        lead(import_total_kwh) over import_readings as next_import_total_kwh,
        lead(charge_work_kwh) over import_readings as next_import_work_kwh,
        lead(is_bad_import) over import_readings as next_import_is_bad,
        lead(recorded_at) over export_readings as next_export_at,
        lead(export_total_kwh) over export_readings as next_export_total_kwh,
        lead(discharge_work_kwh) over export_readings as next_export_work_kwh,
        lead(is_bad_export) over export_readings as next_export_is_bad
    from readings
    window
        device_in_time as (partition by device_id order by recorded_at),
        import_readings as (partition by device_id, is_import_reading order by recorded_at),
        export_readings as (partition by device_id, is_export_reading order by recorded_at)
),

counter_brackets as (
    -- Every row learns the counter reading at or before it and the one after that.
    select
        *,
        first_value(recorded_at) over import_bracket as import_before_at,
        first_value(import_total_kwh) over import_bracket as import_before_kwh,
        first_value(next_import_at) over import_bracket as import_after_at,
        first_value(next_import_total_kwh) over import_bracket as import_after_kwh,
        first_value(next_import_is_bad) over import_bracket as import_after_is_bad,
        first_value(charge_work_kwh) over import_bracket as import_before_work_kwh,
        first_value(next_import_work_kwh) over import_bracket as import_after_work_kwh,
        first_value(recorded_at) over export_bracket as export_before_at,
        first_value(export_total_kwh) over export_bracket as export_before_kwh,
        first_value(next_export_at) over export_bracket as export_after_at,
        first_value(next_export_total_kwh) over export_bracket as export_after_kwh,
        first_value(next_export_is_bad) over export_bracket as export_after_is_bad,
        first_value(discharge_work_kwh) over export_bracket as export_before_work_kwh,
        first_value(next_export_work_kwh) over export_bracket as export_after_work_kwh
    from counter_neighbours
    window
        import_bracket as (partition by device_id, import_run order by recorded_at),
        export_bracket as (partition by device_id, export_run order by recorded_at)
),

soc_readings as (
    select
        device_id,
        recorded_at,
        soc_pct,
        is_soc_recalibration,
        {{ interpolate_counter('import', 'charge_work_kwh', max_counter_interval) }} as import_kwh,
        {{ interpolate_counter('export', 'discharge_work_kwh', max_counter_interval) }} as export_kwh,
        -- Bad counter intervals up to the one this reading falls in, and before it.
        bad_imports_so_far + case when import_after_is_bad then 1 else 0 end as bad_imports_through,
        bad_imports_so_far as bad_imports_before,
        bad_exports_so_far + case when export_after_is_bad then 1 else 0 end as bad_exports_through,
        bad_exports_so_far as bad_exports_before
    from counter_brackets
    where is_soc_reading
),

events_and_readings as (
    -- Event starts interleaved with the SoC readings, so each reading learns the latest event begun
    -- before it.
    select
        device_id,
        event_start as recorded_at,
        event_start,
        false as is_soc_reading
    from events
    union all
    select
        device_id,
        recorded_at,
        null::timestamptz as event_start,
        true as is_soc_reading
    from soc_readings
),

reading_events as (
    select
        device_id,
        recorded_at,
        max(event_start) over (partition by device_id order by recorded_at, is_soc_reading) as latest_event_start
    from events_and_readings
),

steps as (
    -- A step: from the previous SoC reading to this one.
    select
        soc_readings.*,
        reading_events.latest_event_start,
        lag(soc_readings.recorded_at) over device_in_time as step_from,
        lag(soc_readings.soc_pct) over device_in_time as soc_from,
        lag(soc_readings.import_kwh) over device_in_time as import_from_kwh,
        lag(soc_readings.export_kwh) over device_in_time as export_from_kwh,
        lag(soc_readings.bad_imports_before) over device_in_time as bad_imports_from,
        lag(soc_readings.bad_exports_before) over device_in_time as bad_exports_from
    from soc_readings
    inner join reading_events
        on
            soc_readings.device_id = reading_events.device_id
            and soc_readings.recorded_at = reading_events.recorded_at
    window device_in_time as (partition by soc_readings.device_id order by soc_readings.recorded_at)
),

steps_in_events as (
    select
        steps.*,
        events.event_type,
        case
            when steps.is_soc_recalibration then 'recalibration_jump'
            when steps.recorded_at - steps.step_from > interval '{{ gap_cap }} seconds' then 'gap'
            when
                steps.import_kwh is null or steps.import_from_kwh is null
                or steps.export_kwh is null or steps.export_from_kwh is null
                or steps.bad_imports_through > steps.bad_imports_from
                or steps.bad_exports_through > steps.bad_exports_from
                then 'counter_unusable'
        end as cut_reason
    from steps
    inner join events
        on steps.device_id = events.device_id and steps.latest_event_start = events.event_start
    where steps.step_from is not null and steps.step_from < events.event_end
),

numbered_steps as (
    select
        *,
        sum(case when cut_reason is not null then 1 else 0 end)
            over (partition by device_id, latest_event_start order by recorded_at) as cuts_before,
        -- Anchors: readings where SoC has just moved the event's way. A BMS that reports on change
        -- reports N when the true SoC crosses N -/+ 0.5, so a segment from anchor to anchor has the
        -- same rounding offset at both ends and they cancel; from any reading they would not.
        case when event_type = 'charge' then soc_pct > soc_from else soc_pct < soc_from end as is_anchor
    from steps_in_events
),

segments as (
    select
        device_id,
        latest_event_start as event_start,
        cuts_before,
        min(event_type) as event_type,
        min(recorded_at) as segment_start,
        max(recorded_at) as segment_end,
        {{ first_by('soc_pct', 'recorded_at') }} as soc_start,
        {{ last_by('soc_pct', 'recorded_at') }} as soc_end,
        {{ last_by('import_kwh', 'recorded_at') }} - {{ first_by('import_kwh', 'recorded_at') }} as energy_in_kwh,
        {{ last_by('export_kwh', 'recorded_at') }} - {{ first_by('export_kwh', 'recorded_at') }} as energy_out_kwh,
        count(*) as anchor_readings
    from numbered_steps
    -- A reading whose step was cut only for its counters starts the next segment if its own counter
    -- values are known; after a jump or a gap the next segment starts at the next anchor.
    where
        is_anchor
        and coalesce(cut_reason, 'counter_unusable') = 'counter_unusable'
        and import_kwh is not null
        and export_kwh is not null
    group by device_id, latest_event_start, cuts_before
    having count(*) >= 2
),

cuts as (
    -- Why each segment ended: the cut right after it, or the end of its event.
    select
        device_id,
        latest_event_start as event_start,
        cuts_before - 1 as ends_cuts_before,
        cut_reason
    from numbered_steps
    where cut_reason is not null
),

measured as (
    select
        segments.device_id,
        segments.event_start,
        segments.event_type,
        segments.segment_start,
        segments.segment_end,
        segments.soc_start,
        segments.soc_end,
        segments.energy_in_kwh,
        segments.energy_out_kwh,
        segments.anchor_readings,
        coalesce(cuts.cut_reason, 'event_end') as ended_by,
        case
            when segments.event_type = 'charge' then segments.soc_end - segments.soc_start
            else segments.soc_start - segments.soc_end
        end as soc_swing_pct,
        case
            when segments.event_type = 'charge' then segments.energy_in_kwh - segments.energy_out_kwh
            else segments.energy_out_kwh - segments.energy_in_kwh
        end as energy_kwh
    from segments
    left join cuts
        on
            segments.device_id = cuts.device_id
            and segments.event_start = cuts.event_start
            and segments.cuts_before = cuts.ends_cuts_before
),

classified as (
    select
        device_id,
        segment_start,
        event_start,
        event_type,
        segment_end,
        extract(epoch from segment_end - segment_start) / 3600.0 as segment_hours,
        soc_start,
        soc_end,
        soc_swing_pct,
        energy_in_kwh,
        energy_out_kwh,
        energy_kwh,
        case when soc_swing_pct > 0 then 100.0 * energy_kwh / soc_swing_pct end as apparent_capacity_kwh,
        anchor_readings,
        ended_by,
        case
            when soc_swing_pct <= 0 then 'soc_moved_wrong_way'
            when least(soc_start, soc_end) <= 0 or greatest(soc_start, soc_end) >= 100 then 'soc_saturated'
            when soc_swing_pct < {{ var('capacity_segment_min_soc_swing_pct') }} then 'small_soc_swing'
            when energy_kwh <= 0 then 'no_energy'
        end as reject_reason
    from measured
),

segments_measured as (
    select
        *,
        reject_reason is null as is_clean
    from classified
),

final as (
    {{
        recomputed_rows(
            'segments_measured',
            [
                'segment_start', 'event_start', 'event_type', 'segment_end', 'segment_hours', 'soc_start',
                'soc_end', 'soc_swing_pct', 'energy_in_kwh', 'energy_out_kwh', 'energy_kwh',
                'apparent_capacity_kwh', 'anchor_readings', 'ended_by', 'reject_reason', 'is_clean'
            ],
            'event_start'
        )
    }}
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
