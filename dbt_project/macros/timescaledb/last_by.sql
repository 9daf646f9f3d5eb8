{% macro last_by(value_column, time_column) -%}
    {#- The value at the latest time in the group: TimescaleDB's last(), or an ordered array_agg. -#}
    {%- if is_timescaledb() -%}
        last({{ value_column }}, {{ time_column }})
    {%- else -%}
        (array_agg({{ value_column }} order by {{ time_column }} desc))[1]
    {%- endif -%}
{%- endmacro %}
