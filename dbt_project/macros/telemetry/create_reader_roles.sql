{% macro create_reader_roles() -%}
    {#- on-run-start: every role the project's grants config names (dbt_project.yml), created NOLOGIN
        if missing, with usage on the models' schema. People and services log in as their own users
        made members: `create user grafana login password '...' in role battery_alerting`. A role
        dbt's user may not create is left for an administrator, with a warning. -#}
    {%- if not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set roles = [] -%}
    {%- for node in graph.nodes.values() if node.config.grants -%}
        {%- for role in node.config.grants.get('select', []) if role not in roles -%}
            {%- do roles.append(role) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not roles -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- for role in roles %}
    do $$
    begin
        if not exists (select from pg_roles where rolname = {{ dbt.string_literal(role) }}) then
            create role {{ adapter.quote(role) }} nologin;
        end if;
    exception
        when duplicate_object then null;
        when insufficient_privilege then
            raise warning 'cannot create role %: ask an administrator to create it (NOLOGIN)', {{ dbt.string_literal(role) }};
    end
    $$;
    {%- endfor %}
    grant usage on schema {{ adapter.quote(target.schema) }} to
    {%- for role in roles %} {{ adapter.quote(role) }}{{ ',' if not loop.last }}{% endfor %}
{%- endmacro %}
