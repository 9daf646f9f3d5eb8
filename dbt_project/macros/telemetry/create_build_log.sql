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
