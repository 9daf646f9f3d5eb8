{% macro timescaledb_compression(relation, segmentby, orderby, compress_after) -%}
    do $$
    begin
        if not exists (
            select 1 from timescaledb_information.hypertable_compression_settings
            where hypertable = '{{ relation }}'::regclass
                and coalesce(segmentby, '') = '{{ segmentby | join(",") }}'
                and orderby = '{{ orderby }}'
        ) then
            alter table {{ relation }} set (
                timescaledb.compress,
                timescaledb.compress_segmentby = '{{ segmentby | join(",") }}',
                timescaledb.compress_orderby = '{{ orderby }}'
            );
        end if;
        {{ timescaledb_set_policy(relation, 'compression', 'compress_after', compress_after) }}
    end
    $$
{%- endmacro %}
