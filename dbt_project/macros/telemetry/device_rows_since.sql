{% macro device_rows_since(relation, windows=none, since_column='recompute_from', lookback_seconds=0, condition=none) -%}
    {#- The rows of `relation` (keyed by device_id, recorded_at) that meet `condition` (SQL, optional),
        or with `windows` (a CTE with device_id and `since_column`) only each listed device's rows from
        since_column minus lookback_seconds on: read per device through an index, laterally and fenced
        with `offset 0` so the planner cannot flatten it into a join that scans the whole table. -#}
    {%- if windows is none -%}
        select * from {{ relation }}
        {%- if condition %} where {{ condition }}{% endif %}
    {%- else -%}
        select device_rows.*
        from {{ windows }}
        cross join lateral (
            select *
            from {{ relation }} as rows_of_device
            where
                rows_of_device.device_id = {{ windows }}.device_id
                and rows_of_device.recorded_at
                >= {{ windows }}.{{ since_column }} - interval '{{ lookback_seconds }} seconds'
                {%- if condition %}
                and {{ condition }}
                {%- endif %}
            offset 0  -- noqa: AM09
        ) as device_rows
    {%- endif -%}
{%- endmacro %}
