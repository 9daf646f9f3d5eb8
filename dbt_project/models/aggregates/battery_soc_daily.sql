{{
    config(
        bucket_width='1 day',
        bucket_column='day_start',
        indexes=[{'columns': ['device_id', 'day_start'], 'unique': True}],
        refresh_policy={'start_offset': '7 days', 'end_offset': '1 hour', 'schedule_interval': '1 hour'},
    )
}}

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
