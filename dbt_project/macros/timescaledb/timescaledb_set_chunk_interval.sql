{% macro timescaledb_set_chunk_interval(relation, chunk_interval) -%}
    select set_chunk_time_interval('{{ relation }}'::regclass, interval '{{ chunk_interval }}')
{%- endmacro %}
