{% test unique_combination_of_columns(model, combination_of_columns) %}
    {#- The grain test: no two rows share the same values in all of `combination_of_columns`.
        Written here because dbt hub packages (dbt_utils) are not reachable from our machines. -#}
    {%- if combination_of_columns is string or combination_of_columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("combination_of_columns must be a non-empty list of column names") }}
    {%- endif -%}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as rows_with_these_values
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
