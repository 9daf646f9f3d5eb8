{% macro counter_delta(previous_value, current_value, jitter_tolerance) -%}
    {#- Energy counted between two readings of a cumulative counter (kWh):
        - the first reading of a series has no delta (null);
        - an increase is the delta;
        - a decrease within `jitter_tolerance` is meter jitter: delta 0, never the whole counter;
        - a larger decrease is a reset (meter swap, firmware): the new reading is what was counted
          since the reset. -#}
    case
        when {{ previous_value }} is null then null
        when {{ current_value }} >= {{ previous_value }} then {{ current_value }} - {{ previous_value }}
        when {{ previous_value }} - {{ current_value }} <= {{ jitter_tolerance }} then 0
        else {{ current_value }}
    end
{%- endmacro %}
