{% macro soc_is_valid(value) -%}
    {#- The state-of-charge rule: within var soc_valid_range_pct. The loader applies it too. -#}
    ({{ value }} between {{ var('soc_valid_range_pct')[0] }} and {{ var('soc_valid_range_pct')[1] }})
{%- endmacro %}
