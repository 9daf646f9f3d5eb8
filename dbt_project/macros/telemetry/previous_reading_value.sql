{% macro previous_reading_value(readings) -%}
    {#- In a select over battery_telemetry rows aliased `readings`: the value of each row's previous
        reading in its series. The previous row read, else (a series' first row read) its latest
        reading before in battery_telemetry, found backwards through the index (null for a series'
        very first reading), so a window read from any time on gets the values a read of all rows
        gets. COALESCE evaluates the lookup only where the window has no previous row. -#}
    coalesce(
        lag({{ readings }}.value) over (
            partition by {{ readings }}.device_id, {{ readings }}.metric_name order by {{ readings }}.recorded_at
        ),
        (
            select earlier.value
            from {{ ref('battery_telemetry') }} as earlier
            where
                earlier.device_id = {{ readings }}.device_id
                and earlier.metric_name = {{ readings }}.metric_name
                and earlier.recorded_at < {{ readings }}.recorded_at
            order by earlier.recorded_at desc
            limit 1
        )
    )
{%- endmacro %}
