{% macro recomputed_rows(rows, columns, window_column, windows='recompute_windows', from_everything="'-infinity'::timestamptz") -%}
    {#- The final select of a 'replace_windows' model: device_id, `columns` of CTE `rows` and
        recomputed_from. Incremental: every device of `windows` (device_id, recompute_from) with its
        rows at or after its recompute_from, or one row with only device_id and recomputed_from when
        it has none, so the strategy still removes what it held there. From scratch: every row, with
        recomputed_from = `from_everything`. -#}
    select
        {{ windows if is_incremental() else rows }}.device_id,
        {%- for column in columns %}
        {{ rows }}.{{ column }},
        {%- endfor %}
        {{ windows ~ '.recompute_from' if is_incremental() else from_everything }} as recomputed_from
    {%- if is_incremental() %}
    from {{ windows }}
    left join {{ rows }}
        on {{ windows }}.device_id = {{ rows }}.device_id and {{ windows }}.recompute_from <= {{ rows }}.{{ window_column }}
    {%- else %}
    from {{ rows }}
    {%- endif %}
{%- endmacro %}
