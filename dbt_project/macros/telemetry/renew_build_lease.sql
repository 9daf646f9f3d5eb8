{% macro renew_build_lease() -%}
    {#- Model pre-hook: this invocation is still building (no-op for one that holds no lease). -#}
    {%- if execute and flags.WHICH in ['build', 'run', 'seed', 'snapshot'] -%}
        update {{ build_lease_relation() }} set renewed_at = now() where invocation_id = '{{ invocation_id }}'
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
