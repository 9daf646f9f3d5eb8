{% macro telemetry_compression(segmentby, after=none) -%}
    {#- The compression config of every telemetry hypertable (the core and what is derived from it):
        segmented by `segmentby`, ordered by time, compressed once older than `after` (default
        telemetry_compress_after). For a model's `compression` config; timescaledb_hypertable applies it. -#}
    {{ return({'after': after or var('telemetry_compress_after'), 'segmentby': segmentby, 'orderby': 'recorded_at'}) }}
{%- endmacro %}
