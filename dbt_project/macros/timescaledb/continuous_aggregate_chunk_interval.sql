{% macro continuous_aggregate_chunk_interval(relation, chunk_interval) -%}
    {#- Chunks of a continuous aggregate's materialization hypertable span `chunk_interval` from now
        on (TimescaleDB's default, 10x the source's chunks, keeps an hourly rollup's newest ~70 days in
        one chunk, too young to compress). -#}
    select set_chunk_time_interval(
        (
            select format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
            from timescaledb_information.continuous_aggregates
            where view_schema = '{{ relation.schema }}' and view_name = '{{ relation.identifier }}'
        )::regclass,
        interval '{{ chunk_interval }}'
    )
{%- endmacro %}
