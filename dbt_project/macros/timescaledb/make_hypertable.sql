{% macro make_hypertable(relation, time_column, chunk_interval) -%}
    {#- Post-hook: turn the model's table into a hypertable (idempotent) and keep its chunk interval.
        A no-op on plain PostgreSQL. -#}
    {%- if is_timescaledb() -%}
        select create_hypertable(
            '{{ relation }}'::regclass,
            by_range('{{ time_column }}', interval '{{ chunk_interval }}'),
            if_not_exists => true,
            migrate_data => true
        );
        select set_chunk_time_interval('{{ relation }}'::regclass, interval '{{ chunk_interval }}')
    {%- else -%}
        select 'plain PostgreSQL: {{ relation }} stays a regular table' as make_hypertable
    {%- endif -%}
{%- endmacro %}
