{{ config(indexes=[{'columns': ['device_id', 'metric_name', 'day_start'], 'unique': True}]) }}

-- A continuous aggregate: no CTEs allowed (TimescaleDB), so this model is one plain select.
select
    device_id,
    metric_name,
    {{ bucket_start('1 day', 'recorded_at') }} as day_start,
    sum(delta_kwh) as energy_kwh,
    sum(case when is_reset then 1 else 0 end) as counter_resets,
    count(*) as reading_count
from {{ ref('int_telemetry_counter_deltas') }}
where {{ rollup_source_filter('recorded_at') }}
group by device_id, metric_name, {{ bucket_start('1 day', 'recorded_at') }}

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
