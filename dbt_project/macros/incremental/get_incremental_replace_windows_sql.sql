{% macro get_incremental_replace_windows_sql(arg_dict) -%}
    {#-
        Incremental strategy 'replace_windows', for models recomputed per device from a point in time:
        the model's incremental SQL returns, for every device it recomputed, its rows from that point
        on, each carrying the point in column `recomputed_from` (a device whose window holds no row
        returns one row with only device_id and recomputed_from set). Every existing row of such a
        device at or after its point (column `window_column`) is deleted, then the new rows are
        inserted, so rows that a late or corrected point removed do not survive.
    -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set window_column = config.get('window_column') -%}
    {%- if not window_column -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'replace_windows' needs config window_column") }}
    {%- endif -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | list -%}
    delete from {{ target }} as existing
    using (
        select device_id, min(recomputed_from) as recomputed_from
        from {{ source }}
        group by device_id
    ) as windows
    where existing.device_id = windows.device_id and existing.{{ window_column }} >= windows.recomputed_from;

    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }}
    from {{ source }}
    where {{ window_column }} is not null
{%- endmacro %}
