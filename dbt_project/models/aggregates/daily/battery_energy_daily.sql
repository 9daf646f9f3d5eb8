{{
    config(
        materialized='incremental',
        incremental_strategy='upsert',
        unique_key=['device_id', 'metric_name', 'day_start'],
        on_schema_change='fail',
        indexes=[{'columns': ['device_id', 'metric_name', 'day_start'], 'unique': True}],
    )
}}

{#-
    Daily energy per device and cumulative energy counter (is_energy_counter): the sum of each
    reading's delta since the counter's previous reading (counter_delta: jitter and resets handled).
    Deltas need the previous reading (window functions), so this is no continuous aggregate, and they
    are not stored per reading: each build computes them from battery_telemetry for what its batch
    touched. Incremental: for every counter series the batch touched, its days from the day of the
    earliest new reading on are computed again and upserted.
-#}

with

{% if is_incremental() %}
    recompute_windows as (
        select
            device_id,
            metric_name,
            {{ bucket_start('1 day', 'changed_from') }} as recompute_from
        from {{ ref('int_telemetry_batch_changes') }}
        where batch_id = '{{ invocation_id }}' and {{ is_energy_counter('metric_name') }}
    ),

    readings as (
        {{ series_rows_since(ref('battery_telemetry'), 'recompute_windows') }}
    ),
{% else %}
    readings as (
        select
            device_id,
            metric_name,
            recorded_at,
            value
        from {{ ref('battery_telemetry') }}
        where {{ is_energy_counter('metric_name') }}
    ),
{% endif %}

with_previous as (
    select
        readings.device_id,
        readings.metric_name,
        readings.recorded_at,
        readings.value,
        {{ previous_reading_value('readings') }} as previous_value
    from readings
),

final as (
    select
        device_id,
        metric_name,
        {{ bucket_start('1 day', 'recorded_at') }} as day_start,
        sum({{ counter_delta('previous_value', 'value', var('counter_jitter_tolerance_kwh')) }}) as energy_kwh,
        count(*) filter (where previous_value - value > {{ var('counter_jitter_tolerance_kwh') }}) as counter_resets,
        count(*) as reading_count
    from with_previous
    group by device_id, metric_name, {{ bucket_start('1 day', 'recorded_at') }}
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
