{% macro is_energy_counter(metric_name) -%}
    {#- Whether a series is a cumulative energy counter: its name matches var energy_counter_name_pattern. -#}
    ({{ metric_name }} ilike '{{ var("energy_counter_name_pattern") }}')
{%- endmacro %}
