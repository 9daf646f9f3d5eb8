{% macro drop_dbt_temp_tables() -%}
    {#- on-run-end: drop the temporary tables dbt's incremental runs and snapshots leave in this
        session (`..__dbt_tmp..`). dbt leaves them for the end of the session; on the embedded
        database every client shares one session that never ends (docs/embedded-db.md), so each
        build's temporary tables, as large as its batch, would stay until the server stops. -#}
    do $$
    declare
        leftover record;
    begin
        for leftover in
            select relname from pg_class
            where relnamespace = pg_my_temp_schema() and relkind = 'r' and relname like '%\_\_dbt\_tmp%'
        loop
            execute format('drop table if exists pg_temp.%I', leftover.relname);
        end loop;
    end
    $$
{%- endmacro %}
