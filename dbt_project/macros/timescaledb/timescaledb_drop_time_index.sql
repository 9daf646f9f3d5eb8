{% macro timescaledb_drop_time_index(relation, time_column) -%}
    drop index if exists {{ relation.schema }}.{{ relation.identifier }}_{{ time_column }}_idx
{%- endmacro %}
