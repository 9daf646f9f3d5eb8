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
