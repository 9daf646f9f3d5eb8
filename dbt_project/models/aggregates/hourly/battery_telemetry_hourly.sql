{{
    config(
        indexes=[{'columns': ['device_id', 'metric_name', 'hour_start'], 'unique': True}],
        compress_segmentby=['device_id'],
        compress_orderby='metric_name, hour_start',
    )
}}

{#- Compressed a segment per device, not per device and metric: a metric's week of hours is 168 rows,
    too few for a compressed batch to pay its way (measured: 6.8 -> 4.9 MB, docs/benchmarks.md). -#}

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
