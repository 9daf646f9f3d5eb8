{% macro release_build_lease() -%}
    {#- on-run-end: give the lease back, whatever the build's outcome. -#}
    {%- if takes_build_lease() -%}
        delete from {{ build_lease_relation() }} where invocation_id = '{{ invocation_id }}'
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
