{% macro series_rows_since(relation, windows, since_column='recompute_from') -%}
    {#- The rows of `relation` (keyed by device_id, metric_name, recorded_at) of each series listed in
        `windows` (a CTE with device_id, metric_name and `since_column`), from since_column on: read
        per series through the index, laterally and fenced with `offset 0` so the planner cannot
        flatten it into a join that scans the whole table. -#}
    select series_rows.*
    from {{ windows }}
    cross join lateral (
        select *
        from {{ relation }} as rows_of_series
        where
            rows_of_series.device_id = {{ windows }}.device_id
            and rows_of_series.metric_name = {{ windows }}.metric_name
            and rows_of_series.recorded_at >= {{ windows }}.{{ since_column }}
        offset 0  -- noqa: AM09
    ) as series_rows
{%- endmacro %}
