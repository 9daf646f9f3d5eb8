{% macro timescaledb_create_hypertable(relation, time_column, chunk_interval, create_default_indexes) -%}
    select create_hypertable(
        '{{ relation }}'::regclass,
        by_range('{{ time_column }}', interval '{{ chunk_interval }}'),
        create_default_indexes => {{ create_default_indexes }},
        if_not_exists => true,
        migrate_data => true
    )
{%- endmacro %}
