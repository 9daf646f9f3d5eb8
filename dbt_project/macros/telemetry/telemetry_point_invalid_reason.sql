{% macro telemetry_point_invalid_reason(is_pair, timestamp_type, recorded_ms, value_type, value_numeric,
                                        metric_name, point) -%}
    {#- Why a received point cannot go into battery_telemetry, in words; null when it can. -#}
    case
        when not {{ is_pair }} then 'point is not a [timestamp, value] pair'
        when {{ timestamp_type }} <> 'number' then 'timestamp is not a number'
        when {{ recorded_ms }} between 946684800 and 4102444800
            then 'timestamp looks like epoch seconds, not milliseconds'
        when not {{ epoch_ms_is_valid(recorded_ms) }}
            then 'timestamp out of range (before 2000 or in the future)'
        when {{ value_type }} = 'null' then 'value is null'
        when {{ value_type }} = 'string' and ({{ point }} ->> 1) in ('NaN', 'Infinity', '-Infinity')
            then 'value is not finite (' || ({{ point }} ->> 1) || ')'
        when {{ value_type }} <> 'number' then 'value is not a number (' || {{ value_type }} || ')'
        when abs({{ value_numeric }}) > 1e300 then 'value out of range'
        when {{ metric_name }} = '{{ var("soc_metric_name") }}' and not {{ soc_is_valid(value_numeric) }}
            then 'state of charge outside {{ var("soc_valid_range_pct") | join("-") }}'
    end
{%- endmacro %}
