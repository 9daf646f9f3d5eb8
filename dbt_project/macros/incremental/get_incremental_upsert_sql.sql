{% macro get_incremental_upsert_sql(arg_dict) -%}
    {#-
        Incremental strategy 'upsert': insert new rows, update existing ones on the unique key, and
        leave rows whose values did not change untouched (no dead tuples, no needless writes into
        compressed chunks). Needs a unique index on unique_key.

        When the model sets main_dimension (its time column, part of unique_key), rows later than
        the newest existing row of their series (the rest of the key) cannot conflict: they are
        appended with a plain insert, ordered by the key, and only rows at or before a series' end
        pay for the conflict check. Both happen in one statement, on one snapshot.

        On TimescaleDB the rows that pay for the conflict check may meet compressed batches of old
        chunks (late data, a backlog, a series' last row rewritten): the statement before raises the
        server's decompression limit for this transaction to what those rows can decompress
        (timescaledb_allow_decompression), so a build never stops on data older than compress_after.
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
    {%- set time_column = config.get('main_dimension') -%}
    {%- set series_columns = key_columns | reject('equalto', time_column) | list -%}
    {%- set split_by_time = time_column in key_columns and series_columns | length > 0 -%}

    {%- set series_ends -%}
        select
            {% for column in series_columns %}batch_series.{{ column }}, {% endfor %}
            (
                select max(existing.{{ time_column }}) from {{ target }} as existing
                where {% for column in series_columns -%}
                    existing.{{ column }} = batch_series.{{ column }}{{ ' and ' if not loop.last }}
                {%- endfor %}
            ) as series_end
        from (select distinct {{ series_columns | join(', ') }} from {{ source }}) as batch_series
    {%- endset %}

    {%- if is_timescaledb() %}
        {%- if split_by_time %}
            {%- set rewritten_rows -%}
                select count(*) from {{ source }} as new_rows
                inner join ({{ series_ends }}) as series_ends using ({{ series_columns | join(', ') }})
                where new_rows.{{ time_column }} <= series_ends.series_end
            {%- endset %}
        {%- else %}
            {%- set rewritten_rows = 'select count(*) from ' ~ source %}
        {%- endif %}
    {{ timescaledb_allow_decompression(rewritten_rows) }};
    {%- endif %}

    {%- if split_by_time %}
    with series_ends as materialized (
        {{ series_ends }}
    ),

    batch as (
        select {% for column in columns %}new_rows.{{ column }}, {% endfor %}series_ends.series_end
        from {{ source }} as new_rows
        inner join series_ends using ({{ series_columns | join(', ') }})
    ),

    appended as (
        insert into {{ target }} ({{ columns | join(', ') }})
        select {{ columns | join(', ') }} from batch
        where series_end is null or {{ time_column }} > series_end
        order by {{ key_columns | join(', ') }}
        returning 1
    )

    insert into {{ target }} as existing ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from batch
    where {{ time_column }} <= series_end
    {%- else %}
    insert into {{ target }} as existing ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ source }}
    {%- endif %}
    on conflict ({{ key_columns | join(', ') }})
    {%- if value_columns %}
        do update set
        {%- for column in value_columns %}
            {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
        where ({% for column in value_columns %}existing.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
            is distinct from
            ({% for column in value_columns %}excluded.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
    {%- else %}
        do nothing
    {%- endif %}
{%- endmacro %}
