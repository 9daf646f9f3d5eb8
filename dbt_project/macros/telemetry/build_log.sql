{% macro create_build_log() -%}
    {#- on-run-start: the table record_build writes to, created before any model so that
        pipeline_health can read it from the first build on. -#}
    create schema if not exists {{ adapter.quote(target.schema) }};
    create table if not exists {{ build_log_relation() }} (
        invocation_id text primary key,
        command text not null,
        started_at timestamptz not null,
        finished_at timestamptz not null default now(),
        succeeded boolean not null,
        nodes_run integer not null,
        nodes_failed integer not null
    );
    create index if not exists dbt_build_log_finished_at_idx on {{ build_log_relation() }} (finished_at)
{%- endmacro %}


{% macro record_build(results) -%}
    {#- on-run-end: one row per dbt invocation, so that the age of the last successful build is a
        fact the pipeline-health alerts can read (a build with no new data changes nothing else). -#}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error']) | list -%}
    insert into {{ build_log_relation() }}
        (invocation_id, command, started_at, succeeded, nodes_run, nodes_failed)
    values (
        '{{ invocation_id }}', '{{ flags.WHICH }}', '{{ run_started_at.isoformat() }}',
        {{ 'true' if not failed else 'false' }}, {{ results | length }}, {{ failed | length }}
    )
    on conflict (invocation_id) do nothing
{%- endmacro %}


{% macro build_log_relation() -%}
    {{ adapter.quote(target.schema) }}.dbt_build_log
{%- endmacro %}
