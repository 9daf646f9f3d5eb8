{% test expression_is_true(model, expression, column_name=none) %}
    {#- Rows for which the SQL boolean `expression` is not true (an invariant of the model). -#}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
