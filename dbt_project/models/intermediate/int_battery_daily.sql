{{
    config(
        incremental_strategy='replace_windows',
        window_column='day',
        indexes=[{'columns': ['device_id', 'day'], 'unique': True}],
    )
}}

{#-
    The daily measures behind fct_battery_daily, everything but what the reference capacity E_ref
    scales (that mart applies it, so a baseline that moves does not rewrite history here).
    One row per device and day (calendar days in reporting_timezone): energy throughput, SoC-based
    cycles, SoC statistics (time-weighted: each sample's SoC counts until the next sample, gaps
    capped, split exactly at hours and so at midnight), time in the high and low SoC bands and
    deep-discharge events. Built on the hourly continuous aggregate; deep-discharge events and SoC-based
    cycles come from the sample timeline.
    Incremental: per device the batch touched, the days from the earliest of its rewritten samples
    (minus a gap cap), its recomputed events and a low-SoC stretch still running then are recomputed
    (strategy 'replace_windows'); all its days when its power sign changed.
-#}

{%- set deep_soc = var('deep_discharge_soc_pct') %}
{%- set soc_above_deep = 'samples.soc_pct > ' ~ deep_soc %}

with

{% if is_incremental() %}
    event_windows as (
        {{ battery_event_windows(ref('int_battery_events'), after_rewrite=true) }}
    ),

    recompute_windows as (
        select
            event_windows.device_id,
            least(
                {{ reporting_period('day', "event_windows.write_from - interval '" ~ var('sample_gap_cap_seconds') ~ " seconds'") }},
                {{ reporting_period('day', 'event_windows.recompute_from') }},
                {{ reporting_period('day', "coalesce(last_high_soc.recorded_at, '-infinity')") }}
            ) as recompute_from
        from event_windows
        -- A low-SoC stretch running at the rewritten samples started after the last SoC above it.
        left join
            {{ last_sample_before('event_windows.device_id', 'event_windows.write_from', soc_above_deep) }}
                as last_high_soc
            on true
    ),

    window_starts as (
        select
            device_id,
            recompute_from,
            {{ reporting_period_start('recompute_from') }} as starts_at
        from recompute_windows
    ),
{% endif %}

hourly as (
    select hourly.*
    from {{ ref('battery_cycling_hourly') }} as hourly
    {% if is_incremental() %}
        inner join window_starts
            on hourly.device_id = window_starts.device_id and hourly.hour_start >= window_starts.starts_at
    {% endif %}
),

days as (
    select
        hourly.device_id,
        {{ reporting_period('day', 'hourly.hour_start') }} as day,
        sum(hourly.seconds_covered) as seconds_covered,
        sum(hourly.soc_seconds) as soc_seconds,
        sum(hourly.soc_seconds_weighted) as soc_seconds_weighted,
        sum(hourly.seconds_soc_high) as seconds_soc_high,
        sum(hourly.seconds_soc_low) as seconds_soc_low,
        min(hourly.soc_min) as soc_min,
        max(hourly.soc_max) as soc_max,
        sum(case when power_sign.charge_sign = 1 then hourly.positive_power_kwh else hourly.negative_power_kwh end)
            as power_in_kwh,
        sum(case when power_sign.charge_sign = 1 then hourly.negative_power_kwh else hourly.positive_power_kwh end)
            as power_out_kwh,
        sum(hourly.power_samples) as power_samples,
        sum(hourly.import_counter_kwh) as import_counter_kwh,
        sum(hourly.export_counter_kwh) as export_counter_kwh,
        sum(hourly.import_readings) as import_readings,
        sum(hourly.export_readings) as export_readings,
        sum(hourly.counter_resets) as counter_resets,
        sum(hourly.counter_jumps) as counter_jumps
    from hourly
    inner join {{ ref('int_device_power_sign') }} as power_sign
        on hourly.device_id = power_sign.device_id
    group by hourly.device_id, {{ reporting_period('day', 'hourly.hour_start') }}
),

soc_samples as (
    select
        device_id,
        recorded_at,
        counted_ms / 1000.0::double precision as seconds_counted,
        soc_step_pct,
        is_soc_recalibration,
        -- SoC pinned at 0 or 100 % while power flows: the estimate cannot show the battery moving.
        case
            when soc_pct in (0, 100) and abs(battery_power_w) > {{ var('battery_idle_max_power_w') }}
                then abs(battery_power_w) * counted_ms / 3600000000.0
        end as soc_pinned_throughput_kwh,
        soc_pct <= {{ deep_soc }} as is_low,
        row_number() over (partition by device_id order by recorded_at)
        - row_number() over (partition by device_id, soc_pct <= {{ deep_soc }} order by recorded_at) as low_run
    from (
        {#- A day before the window, so a stretch crossing its start is seen to begin before it (and is
            left to the day it began, which this build does not rewrite). A stretch still running at
            the change moved the window back to its start (last_high_soc). -#}
        {{ device_rows_since(ref('int_battery_samples'), 'window_starts' if is_incremental() else none,
                             since_column='starts_at', lookback_seconds=86400) }}
    ) as samples
    where soc_pct is not null
),

deep_discharges as (
    select
        device_id,
        {{ reporting_period('day', 'min(recorded_at)') }} as day
    from soc_samples
    where is_low
    group by device_id, low_run
    having sum(seconds_counted) >= {{ var('deep_discharge_min_minutes') }} * 60
),

soc_cycles as (
    -- All the SoC the battery moved, either way and whatever the power did (short runs, reversals and
    -- grid-service dithering are cycling too), less re-calibration jumps of the BMS estimate; a step
    -- across a gap is no step (soc_step_pct is null there), so what a gap hides is not counted. While
    -- the estimate is pinned at 0 or 100 % and power flows, the energy moved is kept instead, for
    -- fct_battery_daily to count against the reference capacity.
    select
        device_id,
        {{ reporting_period('day', 'recorded_at') }} as day,
        sum(abs(soc_step_pct)) filter (where not is_soc_recalibration) / 200.0 as efc_soc,
        sum(soc_pinned_throughput_kwh) as soc_pinned_throughput_kwh
    from soc_samples
    where soc_step_pct is not null or soc_pinned_throughput_kwh is not null
    group by device_id, {{ reporting_period('day', 'recorded_at') }}
),

deep_discharges_daily as (
    select
        device_id,
        day,
        count(*) as deep_discharge_events
    from deep_discharges
    group by device_id, day
),

energy as (
    select
        days.*,
        extract(
            epoch from {{ reporting_period_start('days.day + 1') }} - {{ reporting_period_start('days.day') }}
        ) as day_seconds,
        case when days.import_readings > 0 then days.import_counter_kwh end as counter_in_kwh,
        case when days.export_readings > 0 then days.export_counter_kwh end as counter_out_kwh,
        case when days.power_samples > 0 then days.power_in_kwh end as integrated_in_kwh,
        case when days.power_samples > 0 then days.power_out_kwh end as integrated_out_kwh
    from days
),

days_measured as (
    select
        energy.device_id,
        energy.day,
        coalesce(energy.counter_in_kwh, energy.integrated_in_kwh) as energy_in_kwh,
        coalesce(energy.counter_out_kwh, energy.integrated_out_kwh) as energy_out_kwh,
        case
            when energy.counter_in_kwh is not null and energy.counter_out_kwh is not null then 'counter'
            when energy.integrated_in_kwh is not null then 'power_integral'
        end as energy_method,
        case when energy.soc_seconds > 0 then coalesce(soc_cycles.efc_soc, 0) end as efc_soc,
        case when energy.soc_seconds > 0 then coalesce(soc_cycles.soc_pinned_throughput_kwh, 0) end
            as soc_pinned_throughput_kwh,
        energy.soc_min,
        energy.soc_max,
        -- Rounded like the hours below: a day spent at 100 % must not average 100.00000000000001.
        round((energy.soc_seconds_weighted / nullif(energy.soc_seconds, 0))::numeric, 6)::double precision
            as soc_avg_time_weighted,
        -- Rounded: float sums of exactly split intervals can exceed a day by 1e-12.
        case when energy.soc_seconds > 0 then round((energy.seconds_soc_high / 3600.0)::numeric, 6)::double precision end
            as hours_soc_ge_90,
        case when energy.soc_seconds > 0 then round((energy.seconds_soc_low / 3600.0)::numeric, 6)::double precision end
            as hours_soc_le_10,
        case when energy.soc_seconds > 0 then coalesce(deep_discharges_daily.deep_discharge_events, 0) end
            as deep_discharge_events,
        (energy.day_seconds / 3600.0)::double precision as day_hours,
        round((100.0 * energy.seconds_covered / energy.day_seconds)::numeric, 6)::double precision as coverage_pct,
        energy.counter_resets,
        energy.counter_jumps,
        case
            when energy.soc_seconds is null or energy.soc_seconds = 0 then 'no_soc'
            when energy.counter_resets > 0 then 'counter_reset'
            when energy.counter_jumps > 0 then 'counter_jump'
            when energy.counter_in_kwh is null or energy.counter_out_kwh is null then 'energy_from_power'
            when energy.seconds_covered < 0.9 * energy.day_seconds then 'low_coverage'
            else 'ok'
        end as quality_flag
    from energy
    left join soc_cycles
        on energy.device_id = soc_cycles.device_id and energy.day = soc_cycles.day
    left join deep_discharges_daily
        on energy.device_id = deep_discharges_daily.device_id and energy.day = deep_discharges_daily.day
),

final as (
    {{
        recomputed_rows(
            'days_measured',
            [
                'day', 'energy_in_kwh', 'energy_out_kwh', 'energy_method', 'efc_soc', 'soc_pinned_throughput_kwh', 'soc_min',
                'soc_max', 'soc_avg_time_weighted', 'hours_soc_ge_90', 'hours_soc_le_10',
                'deep_discharge_events', 'day_hours', 'coverage_pct', 'counter_resets', 'counter_jumps',
                'quality_flag'
            ],
            'day',
            windows='window_starts',
            from_everything="'-infinity'::date"
        )
    }}
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
-- depends_on: {{ ref('int_battery_events') }}
