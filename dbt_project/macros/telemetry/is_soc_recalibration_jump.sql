{% macro is_soc_recalibration_jump(soc_step_pct, seconds) -%}
    {#- True when SoC moved between two readings further than a battery can move it in that time: at
        least soc_recalibration_min_step_pct points, and more than one point (integer rounding) plus
        soc_max_rate_pct_per_hour over the interval. A BMS that corrects its estimate at full charge
        or empty does this; such a step is not cycling and no capacity segment may span it. -#}
    coalesce(
        abs({{ soc_step_pct }}) >= {{ var('soc_recalibration_min_step_pct') }}
        and abs({{ soc_step_pct }}) > 1 + {{ var('soc_max_rate_pct_per_hour') }} * {{ seconds }} / 3600.0,
        false
    )
{%- endmacro %}
