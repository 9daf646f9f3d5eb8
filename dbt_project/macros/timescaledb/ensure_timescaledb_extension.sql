{% macro ensure_timescaledb_extension() -%}
    {#- on-run-start: create the timescaledb extension where the server offers it (TimescaleDB in
        Docker, the embedded database). On plain PostgreSQL nothing happens and the project builds
        its plain-PostgreSQL variant. -#}
    {%- if execute -%}
        {%- set offered = run_query(
            "select exists (select 1 from pg_available_extensions where name = 'timescaledb')"
        ).columns[0].values()[0] -%}
        {%- if offered -%}
            {%- do run_query("create extension if not exists timescaledb") -%}
        {%- endif -%}
    {%- endif -%}
    select 1 as ensure_timescaledb_extension
{%- endmacro %}
