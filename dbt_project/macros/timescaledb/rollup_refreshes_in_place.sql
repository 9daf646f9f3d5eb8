{% macro rollup_refreshes_in_place() -%}
    {#- True when this continuous_aggregate model runs on plain PostgreSQL against a table it built
        before: then only the buckets this build's batch touched are recomputed. -#}
    {%- if not execute or this is none or is_timescaledb() or should_full_refresh() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set existing = load_cached_relation(this) -%}
    {{ return(existing is not none and existing.type == 'table') }}
{%- endmacro %}
