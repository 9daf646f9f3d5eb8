{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {#- Rows whose `column_name` falls outside [min_value, max_value] (bounds optional; exclusive
        bounds with inclusive=false). Nulls pass: pair with not_null where they must not occur. -#}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("accepted_range needs min_value or max_value") }}
    {%- endif -%}
    select *
    from {{ model }}
    where
        {%- if min_value is not none %}
            {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
        {%- endif %}
        {%- if min_value is not none and max_value is not none %} or {% endif %}
        {%- if max_value is not none %}
            {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
        {%- endif %}
{% endtest %}
