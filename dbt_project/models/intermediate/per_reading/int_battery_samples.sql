{{
    config(
        unique_key=['device_id', 'recorded_at'],
        compression=telemetry_compression(['device_id'], after=var('derived_compress_after')),
    )
}}

{#-
    The battery's timeline: one row per device and time at which state of charge, battery power or
    the battery's import/export counters were read, plus one row at each hour boundary that falls
    inside a sample's counted interval, so every time-weighted sum splits exactly at hours (and so at
    days and months in any whole-hour time zone). SoC and power are carried forward from their last
    reading (at most sample_gap_cap_seconds old), each row knows its duration to the next row
    (capped: a longer silence is a gap) and the energy the counters counted since their previous
    reading, unless that is more than the battery's power over that interval allows (a counter jump:
    the delta is dropped). A SoC reading that moved faster than the battery can is a BMS
    re-calibration jump. Window functions, so not a continuous aggregate; battery_cycling_hourly sums it.
    Incremental: for each device the batch touched, rows are rewritten from the sample before the
    earliest new reading, with one gap cap of earlier rows read for carrying values forward.
-#}

{%- set soc = var('soc_metric_name') -%}
{%- set power = var('battery_power_metric_name') -%}
{%- set import = var('battery_import_metric_name') -%}
{%- set export = var('battery_export_metric_name') -%}
{%- set gap_cap = var('sample_gap_cap_seconds') %}
{%- if gap_cap | float > 3600 -%}
    {{ exceptions.raise_compiler_error("sample_gap_cap_seconds must be at most 3600: a counted interval may cross one hour boundary, not more") }}
{%- endif %}

{#- Incremental builds read each changed device's readings from its window on, through the index
    (a lateral subquery per device: a plain join makes the planner scan whole tables). -#}
{%- set in_device_window -%}
    {%- if is_incremental() %}
        and source_rows.device_id = device_windows.device_id
        and source_rows.recorded_at >= device_windows.write_from - interval '{{ gap_cap }} seconds'
    {%- endif %}
{%- endset %}

with

{% if is_incremental() %}
    device_windows as (
        {{ battery_batch_windows(this) }}
    ),
{% endif %}

readings as (
    select
        battery_readings.device_id,
        battery_readings.recorded_at,
        battery_readings.metric_name,
        battery_readings.value,
        {{ counter_delta('battery_readings.previous_value', 'battery_readings.value',
                         var('counter_jitter_tolerance_kwh')) }} as delta_kwh,
        battery_readings.seconds_since_previous,
        coalesce(
            battery_readings.previous_value - battery_readings.value > {{ var('counter_jitter_tolerance_kwh') }}, false
        ) as is_reset,
        {{ 'device_windows.write_from' if is_incremental() else "'-infinity'::timestamptz as write_from" }}
    from {% if is_incremental() %}device_windows cross join lateral {% endif %}(
        select
            source_rows.device_id,
            source_rows.recorded_at,
            source_rows.metric_name,
            source_rows.value,
            -- A counter reading's delta is counted from its previous reading, wherever that is.
            case
                when source_rows.metric_name in ('{{ import }}', '{{ export }}')
                    then {{ previous_reading_value('source_rows') }}
            end as previous_value,
            -- A counter reading's interval, from the previous reading read here: one further back
            -- than the window's gap cap makes the interval a gap either way, which is all it is used for.
            case
                when source_rows.metric_name in ('{{ import }}', '{{ export }}')
                    then extract(epoch from source_rows.recorded_at - lag(source_rows.recorded_at) over (
                        partition by source_rows.device_id, source_rows.metric_name order by source_rows.recorded_at
                    ))::double precision
            end as seconds_since_previous
        from {{ ref('battery_telemetry') }} as source_rows
        where source_rows.metric_name in {{ battery_timeline_metrics() }} {{ in_device_window }}
    ) as battery_readings
),

readings_by_time as (
    select
        device_id,
        recorded_at,
        min(write_from) as write_from,
        max(case when metric_name = '{{ soc }}' then value end) as soc_read,
        max(case when metric_name = '{{ power }}' then value end) as power_read,
        max(case when metric_name = '{{ import }}' then value end) as import_reading_kwh,
        max(case when metric_name = '{{ export }}' then value end) as export_reading_kwh,
        sum(case when metric_name = '{{ import }}' then delta_kwh end) as import_delta_kwh,
        sum(case when metric_name = '{{ export }}' then delta_kwh end) as export_delta_kwh,
        max(case when metric_name = '{{ import }}' then seconds_since_previous end) as import_seconds,
        max(case when metric_name = '{{ export }}' then seconds_since_previous end) as export_seconds,
        bool_or(is_reset) as has_counter_reset
    from readings
    group by device_id, recorded_at
),

reading_runs as (
    -- A run starts at each SoC (power) reading and lasts until the next one: the carry-forward group.
    -- Likewise for each counter: the rows from one reading to the next are the interval its next
    -- reading's delta covers.
    select
        *,
        count(soc_read) over device_in_time as soc_run,
        count(power_read) over device_in_time as power_run,
        count(import_reading_kwh) over device_in_time as import_run,
        count(export_reading_kwh) over device_in_time as export_run
    from readings_by_time
    window device_in_time as (partition by device_id order by recorded_at)
),

carried_forward as (
    select
        *,
        first_value(soc_read) over soc_run_in_time as soc_last_read,
        first_value(recorded_at) over soc_run_in_time as soc_read_at,
        first_value(power_read) over power_run_in_time as power_last_read,
        first_value(recorded_at) over power_run_in_time as power_read_at
    from reading_runs
    window
        soc_run_in_time as (partition by device_id, soc_run order by recorded_at),
        power_run_in_time as (partition by device_id, power_run order by recorded_at)
),

timeline as (
    select
        *,
        case
            when recorded_at - soc_read_at <= interval '{{ gap_cap }} seconds' then soc_last_read
        end as soc_pct,
        case
            when recorded_at - power_read_at <= interval '{{ gap_cap }} seconds' then power_last_read
        end as battery_power_w
    from carried_forward
),

counter_intervals as (
    select
        *,
        max(abs(battery_power_w)) over (partition by device_id, import_run) as import_run_max_power_w,
        max(abs(battery_power_w)) over (partition by device_id, export_run) as export_run_max_power_w
    from timeline
),

with_neighbours as (
    select
        *,
        lead(recorded_at) over device_in_time as next_recorded_at,
        -- On a reading's row the previous row still belongs to the interval since the last reading.
        lag(import_run_max_power_w) over device_in_time as import_interval_max_power_w,
        lag(export_run_max_power_w) over device_in_time as export_interval_max_power_w,
        -- Only from a reading at most the gap cap earlier: the same rows an incremental window reads.
        case
            when
                soc_read is not null and recorded_at - lag(soc_read_at) over device_in_time
                <= interval '{{ gap_cap }} seconds' then soc_read - lag(soc_last_read) over device_in_time
        end as soc_step_pct,
        case
            when
                soc_read is not null and recorded_at - lag(soc_read_at) over device_in_time
                <= interval '{{ gap_cap }} seconds'
                then extract(epoch from recorded_at - lag(soc_read_at) over device_in_time)::double precision
        end as soc_step_seconds
    from counter_intervals
    window device_in_time as (partition by device_id order by recorded_at)
),

judged as (
    select
        *,
        {{ is_counter_jump('import_delta_kwh', 'import_seconds', 'battery_power_w', 'import_interval_max_power_w') }}
            as is_import_jump,
        {{ is_counter_jump('export_delta_kwh', 'export_seconds', 'battery_power_w', 'export_interval_max_power_w') }}
            as is_export_jump,
        {{ is_soc_recalibration_jump('soc_step_pct', 'soc_step_seconds') }} as is_soc_recalibration,
        -- least() skips nulls: the latest sample must stay uncounted, not count for the whole cap.
        case
            when next_recorded_at is not null
                then least(extract(epoch from next_recorded_at - recorded_at), {{ gap_cap }})::double precision
        end as seconds_until_counted_end
    from with_neighbours
),

readings_timeline as (
    select
        recorded_at,
        device_id,
        soc_pct,
        soc_read is not null as is_soc_reading,
        soc_step_pct,
        is_soc_recalibration,
        battery_power_w,
        import_reading_kwh is not null as is_import_reading,
        export_reading_kwh is not null as is_export_reading,
        case when not is_import_jump then import_delta_kwh end as import_delta_kwh,
        case when not is_export_jump then export_delta_kwh end as export_delta_kwh,
        has_counter_reset,
        is_import_jump or is_export_jump as has_counter_jump,
        next_recorded_at,
        seconds_until_counted_end,
        recorded_at + seconds_until_counted_end * interval '1 second' as counted_until,
        date_bin('1 hour', recorded_at, timestamptz '2000-01-03 00:00:00+00') + interval '1 hour' as next_hour_start,
        coalesce(next_recorded_at - recorded_at > interval '{{ gap_cap }} seconds', false) as is_gap_after,
        write_from
    from judged
),

hour_boundaries as (
    -- The hour start inside a row's counted interval, if any, becomes a row of its own that carries
    -- the row's SoC and power on, so that no counted interval crosses an hour. The gap cap is at most
    -- an hour, so an interval holds at most one.
    select
        readings_timeline.next_hour_start as recorded_at,
        readings_timeline.device_id,
        readings_timeline.soc_pct,
        false as is_soc_reading,
        null::double precision as soc_step_pct,
        false as is_soc_recalibration,
        readings_timeline.battery_power_w,
        false as is_import_reading,
        false as is_export_reading,
        null::double precision as import_delta_kwh,
        null::double precision as export_delta_kwh,
        false as has_counter_reset,
        false as has_counter_jump,
        readings_timeline.next_recorded_at,
        readings_timeline.is_gap_after,
        readings_timeline.write_from,
        extract(epoch from readings_timeline.counted_until - readings_timeline.next_hour_start)::double precision
            as seconds_counted,
        true as is_hour_boundary
    from readings_timeline
    where readings_timeline.counted_until > readings_timeline.next_hour_start
),

all_rows as (
    select
        recorded_at,
        device_id,
        soc_pct,
        is_soc_reading,
        soc_step_pct,
        is_soc_recalibration,
        battery_power_w,
        is_import_reading,
        is_export_reading,
        import_delta_kwh,
        export_delta_kwh,
        has_counter_reset,
        has_counter_jump,
        next_recorded_at,
        is_gap_after,
        write_from,
        case
            when counted_until > next_hour_start then extract(epoch from next_hour_start - recorded_at)
            else seconds_until_counted_end
        end::double precision as seconds_counted,
        false as is_hour_boundary
    from readings_timeline
    union all
    select * from hour_boundaries
),

final as (
    select
        recorded_at,
        device_id,
        soc_pct,
        battery_power_w,
        is_import_reading,
        is_export_reading,
        import_delta_kwh,
        export_delta_kwh,
        has_counter_reset,
        has_counter_jump,
        -- Whole milliseconds (readings are timed in ms), stored as integers: compressed they take a
        -- third of what jittered seconds as double precision take.
        round(seconds_counted * 1000)::integer as counted_ms,
        is_gap_after,
        is_soc_reading,
        soc_step_pct,
        is_soc_recalibration,
        is_hour_boundary
    from all_rows
    where recorded_at >= write_from
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
