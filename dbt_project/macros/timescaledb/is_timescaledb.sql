{% macro is_timescaledb() -%}
    {#- True when the target database has the timescaledb extension installed. The one switch between
        TimescaleDB and plain PostgreSQL; models never test for the extension themselves. -#}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set result = run_query("select exists (select 1 from pg_extension where extname = 'timescaledb')") -%}
    {{ return(result.columns[0].values()[0]) }}
{%- endmacro %}
