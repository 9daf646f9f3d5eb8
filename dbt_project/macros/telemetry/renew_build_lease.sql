{% macro renew_build_lease() -%}
    {#- Model pre-hook: this invocation is still building (no-op for one that holds no lease). -#}
    {%- if takes_build_lease() -%}
        update {{ build_lease_relation() }} set renewed_at = now() where invocation_id = '{{ invocation_id }}'
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
