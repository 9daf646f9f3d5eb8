{% macro create_build_lease() -%}
    {#- The build lease's table, created by the first build. -#}
    create schema if not exists {{ adapter.quote(target.schema) }};
    create table if not exists {{ build_lease_relation() }} (
        lease_key integer primary key check (lease_key = 1),
        invocation_id text not null,
        command text not null,
        by_loader boolean not null,
        started_at timestamptz not null,
        renewed_at timestamptz not null
    )
{%- endmacro %}
