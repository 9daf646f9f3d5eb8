{% macro timescaledb_retention(relation, drop_after) -%}
    do $$
    begin
    {%- if drop_after %}
        {{ timescaledb_set_policy(relation, 'retention', 'drop_after', drop_after) }}
    {%- else %}
        perform remove_retention_policy('{{ relation }}'::regclass, if_exists => true);
    {%- endif %}
    end
    $$
{%- endmacro %}
