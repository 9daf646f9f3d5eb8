{{ config(indexes=[{'columns': ['device_id', 'day_start'], 'unique': True}]) }}

-- A continuous aggregate: no CTEs allowed (TimescaleDB), so this model is one plain select.
select
    device_id,
    {{ bucket_start('1 day', 'recorded_at') }} as day_start,
    min(value) as soc_min,
    max(value) as soc_max,
    avg(value) as soc_avg,
    count(*) as reading_count
from {{ ref('battery_telemetry') }}
where {{ rollup_source_filter('recorded_at') }} and metric_name = '{{ var("soc_metric_name") }}'
group by device_id, {{ bucket_start('1 day', 'recorded_at') }}

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
