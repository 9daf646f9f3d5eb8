{% macro build_log_relation() -%}
    {{ adapter.quote(target.schema) }}.dbt_build_log
{%- endmacro %}
