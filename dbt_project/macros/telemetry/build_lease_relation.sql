{% macro build_lease_relation() -%}
    {#- The one-row table that says which dbt invocation is building this database (refuse_overlapping_build). -#}
    {{ adapter.quote(target.schema) }}.dbt_build_lease
{%- endmacro %}
