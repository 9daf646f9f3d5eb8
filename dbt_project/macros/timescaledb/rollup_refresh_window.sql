{% macro rollup_refreshes_in_place() -%}
    {#- True when this continuous_aggregate model runs on plain PostgreSQL against a table it built
        before: then only the buckets this build's batch touched are recomputed. -#}
    {%- if not execute or this is none or is_timescaledb() or should_full_refresh() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set existing = load_cached_relation(this) -%}
    {{ return(existing is not none and existing.type == 'table') }}
{%- endmacro %}


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


{% macro rollup_source_filter(time_column) -%}
    {#- In a continuous_aggregate model's WHERE: on TimescaleDB and on a first build `true` (the
        aggregate's definition covers everything); on plain PostgreSQL, refreshing in place, only the
        source rows of the buckets this build recomputes. -#}
    {%- if rollup_refreshes_in_place() -%}
        {%- set start = rollup_refresh_start() -%}
        {{ 'false' if start is none else time_column ~ ' >= ' ~ start }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
