{% test one_row(model) %}
    {#- A model whose grain is a single row (a status view): fails unless it has exactly one. -#}
    select count(*) as row_count
    from {{ model }}
    having count(*) <> 1
{% endtest %}
