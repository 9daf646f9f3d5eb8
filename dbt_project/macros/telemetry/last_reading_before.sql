{% macro last_reading_before(device_id, metric_name, before) -%}
    {#- A lateral subquery: recorded_at of the series' latest battery_telemetry reading before
        `before`, found backwards through the index. -#}
    lateral (
        select telemetry.recorded_at
        from {{ ref('battery_telemetry') }} as telemetry
        where
            telemetry.device_id = {{ device_id }}
            and telemetry.metric_name = {{ metric_name }}
            and telemetry.recorded_at < {{ before }}
        order by telemetry.recorded_at desc
        limit 1
    )
{%- endmacro %}
