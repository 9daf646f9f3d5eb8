{% macro soc_reading_in(device_id, starts_at, ends_at=none, latest=false) -%}
    {#- A lateral subquery: the first (latest=true: the last) SoC of the device in int_battery_samples
        at or after starts_at (and before ends_at), by one index lookup, never a scan. -#}
    lateral (
        select samples.soc_pct
        from {{ ref('int_battery_samples') }} as samples
        where
            samples.device_id = {{ device_id }}
            and samples.soc_pct is not null
            and samples.recorded_at >= {{ starts_at }}
            {%- if ends_at is not none %}
            and samples.recorded_at < {{ ends_at }}
            {%- endif %}
        order by samples.recorded_at {{ 'desc' if latest else 'asc' }}
        limit 1
    )
{%- endmacro %}
