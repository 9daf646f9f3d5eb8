{% macro get_incremental_upsert_sql(arg_dict) -%}
    {#-
        Incremental strategy 'upsert': insert new rows, update existing ones on the unique key, and
        leave rows whose values did not change untouched (no dead tuples, no needless writes into
        compressed chunks). Needs a unique index on unique_key.
    -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- if unique_key is none -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'upsert' needs a unique_key") }}
    {%- endif -%}
    {%- set key_columns = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | list -%}
    {%- set value_columns = [] -%}
    {%- for column in arg_dict['dest_columns'] if column.name not in key_columns -%}
        {%- do value_columns.append(column.quoted) -%}
    {%- endfor -%}
    insert into {{ target }} as existing ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ source }}
    on conflict ({{ key_columns | join(', ') }})
    {%- if value_columns %}
        do update set
        {%- for column in value_columns %}
            {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
        where ({% for column in value_columns %}existing.{{ column }}{{ ', ' if not loop.last }}{% endfor %}) is distinct from
            ({% for column in value_columns %}excluded.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
    {%- else %}
        do nothing
    {%- endif %}
{%- endmacro %}
