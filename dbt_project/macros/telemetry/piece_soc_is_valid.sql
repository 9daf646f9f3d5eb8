{% macro piece_soc_is_valid(payload) -%}
    {#- soc_is_valid for a whole landed piece at once (its jsonb payload): no point's value outside var
        soc_valid_range_pct. Lets a clean piece skip the point-by-point judgement. -#}
    (not jsonb_path_exists(
        {{ payload }},
        'strict $.data[*] ? (@[1] < {{ var("soc_valid_range_pct")[0] }} || @[1] > {{ var("soc_valid_range_pct")[1] }})'
    ))
{%- endmacro %}
