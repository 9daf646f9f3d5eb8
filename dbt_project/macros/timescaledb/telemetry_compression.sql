{% macro telemetry_compression(segmentby) -%}
    {#- The compression config of every telemetry hypertable (the core and what is derived from it):
        segmented by `segmentby`, ordered by time, compressed once older than telemetry_compress_after.
        For a model's `compression` config; timescaledb_hypertable applies it. -#}
    {{ return({'after': var('telemetry_compress_after'), 'segmentby': segmentby, 'orderby': 'recorded_at'}) }}
{%- endmacro %}
