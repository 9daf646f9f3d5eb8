{{
    config(
        materialized='incremental',
        incremental_strategy='replace_windows',
        window_column='detected_at',
        on_schema_change='fail',
        indexes=[{'columns': ['device_id', 'detected_at']}],
    )
}}

{#-
    Telemetry health events that gate the degradation KPIs, one row per occurrence:
    - gap: no battery sample for longer than sample_gap_cap_seconds;
    - counter_reset: a battery or grid energy counter dropped by more than the jitter tolerance;
    - counter_jump: a battery counter counted more than the battery power allows (is_counter_jump);
    - soc_recalibration: SoC moved between two readings faster than the battery can (a BMS
      re-calibration jump; macro is_soc_recalibration_jump); not counted as cycling;
    - soc_stuck_while_power_flows: power above the idle threshold for soc_stuck_min_minutes or more
      while SoC did not change.
    ended_at is null while an anomaly is still going on at the device's latest sample.
    Incremental by detected_at (the reading that shows the anomaly): per device the batch touched,
    from the earliest of its rewritten samples, its rewritten counter readings and the start of a
    soc-stuck run still going on then (strategy 'replace_windows').
-#}

{%- set idle_w = var('battery_idle_max_power_w') %}
{%- set gap_cap = var('sample_gap_cap_seconds') %}
{%- set power_not_flowing = 'not coalesce(abs(samples.battery_power_w) > ' ~ idle_w ~ ', false)' %}
{%- set soc_stepped = 'samples.soc_step_pct != 0' %}

with

energy_counter_readings as (
    select
        device_id,
        metric_name,
        recorded_at,
        value
    from {{ ref('battery_telemetry') }}
    where {{ is_energy_counter('metric_name') }}
),

{% if is_incremental() %}
    batch_devices as (
        select
            device_id,
            min(changed_from) filter (where {{ is_energy_counter('metric_name') }}) as counters_changed_from
        from {{ ref('int_telemetry_batch_changes') }}
        where batch_id = '{{ invocation_id }}'
        group by device_id
    ),

    batch_windows as (
        {{ battery_batch_windows(ref('int_battery_samples')) }}
    ),

    first_changes as (
        select
            batch_devices.device_id,
            -- least() skips nulls: a device whose batch has no battery reading or no counter.
            least(batch_windows.write_from, batch_devices.counters_changed_from) as changed_from
        from batch_devices
        left join batch_windows
            on batch_devices.device_id = batch_windows.device_id
        where coalesce(batch_windows.write_from, batch_devices.counters_changed_from) is not null
    ),

    recompute_windows as (
        -- From the last break of a soc-stuck run (power not flowing, or SoC stepping) before the
        -- change, so no run crosses the window's start.
        select
            first_changes.device_id,
            least(
                first_changes.changed_from,
                coalesce(greatest(last_idle_sample.recorded_at, last_soc_step.recorded_at), '-infinity')
            ) as recompute_from
        from first_changes
        left join
            {{ last_sample_before('first_changes.device_id', 'first_changes.changed_from', power_not_flowing) }}
                as last_idle_sample
            on true
        left join
            {{ last_sample_before('first_changes.device_id', 'first_changes.changed_from', soc_stepped) }}
                as last_soc_step
            on true
    ),
{% endif %}

samples_in_time as (
    select
        *,
        -- The next reading (not stored: the samples table stays small): an hour-boundary row lies
        -- between two readings at most once, so it is the next row or, past such a row, the one after.
        case
            when lead(is_hour_boundary) over device_in_time then lead(recorded_at, 2) over device_in_time
            else lead(recorded_at) over device_in_time
        end as next_recorded_at,
        lag(recorded_at) over device_in_time as previous_recorded_at
    from (
        {#- One gap cap before the window: a row's previous sample and SoC. A window's first counter
            jump or re-calibration whose previous sample lies further back (right after an outage)
            gets that sample's time only from a build from scratch: started_at can differ. -#}
        {{ device_rows_since(ref('int_battery_samples'), 'recompute_windows' if is_incremental() else none,
                             lookback_seconds=gap_cap) }}
    ) as samples
    window device_in_time as (partition by device_id order by recorded_at)
),

samples as (
    select
        device_id,
        recorded_at,
        next_recorded_at,
        extract(epoch from next_recorded_at - recorded_at) as seconds_to_next,
        counted_ms / 1000.0::double precision as seconds_counted,
        is_gap_after,
        has_counter_jump,
        previous_recorded_at,
        soc_pct,
        battery_power_w,
        soc_step_pct,
        is_soc_recalibration,
        is_hour_boundary,
        abs(battery_power_w) > {{ idle_w }} as is_power_flowing
    from samples_in_time
),

gaps as (
    select
        device_id,
        'gap' as anomaly_type,
        recorded_at as detected_at,
        recorded_at as started_at,
        next_recorded_at as ended_at,
        null::text as metric_name,
        'no battery readings for ' || round(seconds_to_next::numeric / 60, 1) || ' minutes' as details
    from samples
    where is_gap_after and not is_hour_boundary
),

{% if is_incremental() %}
    counter_series as (
        -- Each device's counter series with a reading in its window: a reset can only be there. From the
        -- daily energy (a row per series and day), so history is not scanned for the series' names.
        select
            recompute_windows.device_id,
            recompute_windows.recompute_from,
            series.metric_name
        from recompute_windows
        cross join lateral (
            select distinct daily_energy.metric_name
            from {{ ref('battery_energy_daily') }} as daily_energy
            where
                daily_energy.device_id = recompute_windows.device_id
                and daily_energy.day_start > recompute_windows.recompute_from - interval '1 day'
        ) as series
    ),
{% endif %}

counter_readings as (
    select
        counter_rows.device_id,
        counter_rows.metric_name,
        counter_rows.recorded_at,
        counter_rows.value,
        {{ previous_reading_value('counter_rows') }} as previous_value
    {% if is_incremental() %}
        from ({{ series_rows_since('energy_counter_readings', 'counter_series') }}) as counter_rows
    {% else %}
        from energy_counter_readings as counter_rows
    {% endif %}
),

counter_resets as (
    -- The reading before a reset: an index lookup per reset (lateral, after the filter: resets are rare).
    select
        resets.device_id,
        'counter_reset' as anomaly_type,
        resets.recorded_at as detected_at,
        previous_reading.recorded_at as started_at,
        resets.recorded_at as ended_at,
        resets.metric_name,
        resets.metric_name || ' dropped to ' || round(resets.value::numeric, 2) || ' kWh (reset or meter swap)'
            as details
    from counter_readings as resets
    left join {{ last_reading_before('resets.device_id', 'resets.metric_name', 'resets.recorded_at') }} as previous_reading
        on true
    where resets.previous_value - resets.value > {{ var('counter_jitter_tolerance_kwh') }}
),

counter_jumps as (
    select
        device_id,
        'counter_jump' as anomaly_type,
        recorded_at as detected_at,
        previous_recorded_at as started_at,
        recorded_at as ended_at,
        null::text as metric_name,
        'a battery counter counted more energy than the battery power allows; the delta is not used'
            as details
    from samples
    where has_counter_jump
),

soc_recalibrations as (
    select
        device_id,
        'soc_recalibration' as anomaly_type,
        recorded_at as detected_at,
        previous_recorded_at as started_at,
        recorded_at as ended_at,
        null::text as metric_name,
        'SoC jumped by ' || soc_step_pct || ' points to ' || soc_pct || ' %, faster than the battery can move it'
            as details
    from samples
    where is_soc_recalibration
),

samples_with_previous as (
    select
        *,
        lag(soc_pct) over (partition by device_id order by recorded_at) as previous_soc_pct
    from samples
),

flow_runs as (
    -- A new run starts wherever power is not flowing or SoC changed: the flowing samples of one run
    -- all saw the same SoC.
    select
        *,
        sum(case when is_power_flowing and soc_pct = previous_soc_pct then 0 else 1 end)
            over (partition by device_id order by recorded_at) as stuck_run
    from samples_with_previous
    where soc_pct is not null
),

stuck_runs as (
    select
        device_id,
        min(recorded_at) as started_at,
        max(next_recorded_at) as run_end,
        bool_or(next_recorded_at is null) as is_open,
        sum(seconds_counted) as seconds_stuck,
        min(soc_pct) as soc_pct,
        avg(abs(battery_power_w)) as avg_power_w
    from flow_runs
    where is_power_flowing
    group by device_id, stuck_run
),

soc_stuck as (
    select
        device_id,
        'soc_stuck_while_power_flows' as anomaly_type,
        started_at as detected_at,
        started_at,
        case when not is_open then run_end end as ended_at,
        null::text as metric_name,
        'SoC stayed at ' || soc_pct || ' % for ' || round(seconds_stuck::numeric / 60) || ' minutes with about '
        || round(avg_power_w::numeric / 1000, 1) || ' kW flowing' as details
    from stuck_runs
    where seconds_stuck >= {{ var('soc_stuck_min_minutes') }} * 60
),

anomalies as (
    select * from gaps
    union all
    select * from counter_resets
    union all
    select * from counter_jumps
    union all
    select * from soc_recalibrations
    union all
    select * from soc_stuck
),

final as (
    {{
        recomputed_rows(
            'anomalies',
            [
                'anomaly_type', 'detected_at', 'started_at', 'ended_at', 'metric_name', 'details'
            ],
            'detected_at'
        )
    }}
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
-- depends_on: {{ ref('battery_energy_daily') }}
