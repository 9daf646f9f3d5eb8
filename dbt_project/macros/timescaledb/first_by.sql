{% macro first_by(value_column, time_column) -%}
    {#- The value at the earliest time in the group: TimescaleDB's first(), or an ordered array_agg. -#}
    {%- if is_timescaledb() -%}
        first({{ value_column }}, {{ time_column }})
    {%- else -%}
        (array_agg({{ value_column }} order by {{ time_column }}))[1]
    {%- endif -%}
{%- endmacro %}
