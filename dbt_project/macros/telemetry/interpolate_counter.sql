{% macro interpolate_counter(counter, work_column, max_interval_seconds) -%}
    {#- A counter's running energy total at this row's time, interpolated between the reading at or
        before it (`<counter>_before_at`, `_before_kwh`) and the next one (`_after_at`, `_after_kwh`)
        in the row's `<counter>_run`: in proportion to the energy battery power moved in the counter's
        direction (`work_column`, a running total; `_before_work_kwh`, `_after_work_kwh` at the two
        readings), or to time when power moved none. Power, sampled more often, knows when within
        the counter's interval the energy flowed; a straight line in time would spread an event's
        energy over idle minutes. Null when a reading is missing or they are more than
        max_interval_seconds apart. -#}
    case
        when {{ counter }}_run = 0 then null
        when {{ counter }}_before_at = recorded_at then {{ counter }}_before_kwh
        when {{ counter }}_after_at - {{ counter }}_before_at > interval '{{ max_interval_seconds }} seconds' then null
        when {{ counter }}_after_work_kwh > {{ counter }}_before_work_kwh
            then {{ counter }}_before_kwh + ({{ counter }}_after_kwh - {{ counter }}_before_kwh)
            * ({{ work_column }} - {{ counter }}_before_work_kwh)
            / ({{ counter }}_after_work_kwh - {{ counter }}_before_work_kwh)
        else {{ counter }}_before_kwh + ({{ counter }}_after_kwh - {{ counter }}_before_kwh)
            * extract(epoch from recorded_at - {{ counter }}_before_at)
            / extract(epoch from {{ counter }}_after_at - {{ counter }}_before_at)
    end
{%- endmacro %}
