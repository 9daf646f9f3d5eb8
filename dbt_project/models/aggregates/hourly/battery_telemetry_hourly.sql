{{ config(indexes=[{'columns': ['device_id', 'metric_name', 'hour_start'], 'unique': True}]) }}

-- A continuous aggregate: no CTEs allowed (TimescaleDB), so this model is one plain select.
select
    device_id,
    metric_name,
    {{ bucket_start('1 hour', 'recorded_at') }} as hour_start,
    min(value) as value_min,
    max(value) as value_max,
    avg(value) as value_avg,
    {{ first_by('value', 'recorded_at') }} as value_first,
    {{ last_by('value', 'recorded_at') }} as value_last,
    count(*) as reading_count
from {{ ref('battery_telemetry') }}
where {{ rollup_source_filter('recorded_at') }}
group by device_id, metric_name, {{ bucket_start('1 hour', 'recorded_at') }}

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
