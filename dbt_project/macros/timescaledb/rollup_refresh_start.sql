{% macro rollup_refresh_start() -%}
    {#- The first bucket (config bucket_width) this build's batch can change: from the earliest valid
        reading of int_telemetry_batch_changes, less a gap cap (a sample's counted interval reaches
        that far). A timestamptz literal, or none when the batch changed nothing. -#}
    {%- set width = config.get('bucket_width') -%}
    {%- if not width -%}
        {{ exceptions.raise_compiler_error("continuous_aggregate " ~ this ~ " needs config bucket_width") }}
    {%- endif -%}
    {%- set query -%}
        select {{ bucket_start(width, "min(changed_from) - interval '" ~ var('sample_gap_cap_seconds') ~ " seconds'") }}
        from {{ ref('int_telemetry_batch_changes') }}
        where batch_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- set start = run_query(query).columns[0].values()[0] -%}
    {{ return(none if start is none else "'" ~ start ~ "'::timestamptz") }}
{%- endmacro %}
