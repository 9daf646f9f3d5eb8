{% macro is_counter_jump(delta_kwh, seconds, power_w, previous_power_w) -%}
    {#- True when a counter counted more energy than the battery's power allows: more than
        counter_jump_power_factor x the larger of |power_w| and |previous_power_w| (the highest power
        seen over the counter's interval) x the interval's length, plus
        the jitter tolerance. A meter swapped for one that starts higher, or a glitch, looks like this.
        Not judged (false) when power is unknown or the interval is a gap: the battery may have run at
        any power while nothing was reported. -#}
    coalesce(
        {{ delta_kwh }} > {{ var('counter_jump_power_factor') }}
        * greatest(abs({{ power_w }}), abs({{ previous_power_w }})) / 1000.0 * {{ seconds }} / 3600.0
        + {{ var('counter_jitter_tolerance_kwh') }}
        and {{ seconds }} <= {{ var('sample_gap_cap_seconds') }},
        false
    )
{%- endmacro %}
