{% macro continuous_aggregate_compression(relation, compress_after, segmentby=none, orderby=none) -%}
    {#- Compress a continuous aggregate's buckets older than `compress_after`, segmented by `segmentby`
        and ordered by `orderby` (default TimescaleDB's: segments by every group-by column but the
        bucket), set when compression is enabled. `compress_after` must exceed the refresh policy's
        start_offset, which TimescaleDB checks. -#}
    do $$
    begin
        if not (
            select compression_enabled from timescaledb_information.continuous_aggregates
            where view_schema = '{{ relation.schema }}' and view_name = '{{ relation.identifier }}'
        ) then
            alter materialized view {{ relation }} set (
                timescaledb.compress = true
                {%- if segmentby %}, timescaledb.compress_segmentby = '{{ segmentby | join(",") }}'{% endif %}
                {%- if orderby %}, timescaledb.compress_orderby = '{{ orderby }}'{% endif %}
            );
        end if;
        perform add_compression_policy(
            '{{ relation }}'::regclass, compress_after => interval '{{ compress_after }}', if_not_exists => true
        );
    end
    $$
{%- endmacro %}
