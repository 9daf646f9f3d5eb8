{{
    config(
        unique_key=['device_id', 'metric_name', 'recorded_at'],
        compression=telemetry_compression(['device_id', 'metric_name'], after=var('derived_compress_after')),
        post_hook="create index if not exists {{ this.identifier }}__resets on {{ this }} (device_id, recorded_at) where is_reset",
    )
}}

{#-
    Per reading of a cumulative energy counter (is_energy_counter: by default names containing 'kwh'): the energy counted
    since the previous reading, with jitter and resets handled by the counter_delta macro. Only what
    battery_telemetry does not hold already (the reading and its time are there), so the table stays
    small next to the core. Deltas need
    the previous reading (window functions), which continuous aggregates cannot do; the daily energy
    aggregate sums these. Incremental: for every series this run's batch touched, deltas are recomputed
    from the reading before the earliest new one, so late and out-of-order readings are handled too.
-#}

with

{% if is_incremental() %}
    changed_series as (
        select
            device_id,
            metric_name,
            changed_from
        from {{ ref('int_telemetry_batch_changes') }}
        where batch_id = '{{ invocation_id }}' and {{ is_energy_counter('metric_name') }}
    ),

    series_windows as (
        select
            changed_series.device_id,
            changed_series.metric_name,
            changed_series.changed_from,
            coalesce(previous_reading.recorded_at, changed_series.changed_from) as window_start
        from changed_series
        left join
            {{ last_reading_before('changed_series.device_id', 'changed_series.metric_name',
                                   'changed_series.changed_from') }}
                as previous_reading
            on true
    ),

    readings as (
        -- Lateral and fenced with `offset 0` (so the planner cannot flatten it into a join), so each
        -- series is read through the index from its window on: a plain join scans the whole table.
        select
            telemetry.recorded_at,
            telemetry.device_id,
            telemetry.metric_name,
            telemetry.value,
            series_windows.changed_from
        from series_windows
        cross join lateral (
            select
                series_readings.recorded_at,
                series_readings.device_id,
                series_readings.metric_name,
                series_readings.value
            from {{ ref('battery_telemetry') }} as series_readings
            where
                series_readings.device_id = series_windows.device_id
                and series_readings.metric_name = series_windows.metric_name
                and series_readings.recorded_at >= series_windows.window_start
            offset 0  -- noqa: AM09
        ) as telemetry
    ),
{% else %}
    readings as (
        select
            recorded_at,
            device_id,
            metric_name,
            value,
            '-infinity'::timestamptz as changed_from
        from {{ ref('battery_telemetry') }}
        where {{ is_energy_counter('metric_name') }}
    ),
{% endif %}

with_previous as (
    select
        recorded_at,
        device_id,
        metric_name,
        value,
        changed_from,
        lag(value) over series_in_time as previous_value
    from readings
    window series_in_time as (partition by device_id, metric_name order by recorded_at)
),

final as (
    select
        recorded_at,
        device_id,
        metric_name,
        {{ counter_delta('previous_value', 'value', var('counter_jitter_tolerance_kwh')) }} as delta_kwh,
        coalesce(previous_value - value > {{ var('counter_jitter_tolerance_kwh') }}, false) as is_reset
    from with_previous
    where recorded_at >= changed_from
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
