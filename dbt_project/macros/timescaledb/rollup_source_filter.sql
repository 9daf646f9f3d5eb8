{% macro rollup_source_filter(time_column) -%}
    {#- In a continuous_aggregate model's WHERE: on TimescaleDB and on a first build `true` (the
        aggregate's definition covers everything); on plain PostgreSQL, refreshing in place, only the
        source rows of the buckets this build recomputes. -#}
    {%- if rollup_refreshes_in_place() -%}
        {%- set start = rollup_refresh_start() -%}
        {{ 'false' if start is none else time_column ~ ' >= ' ~ start }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
