{% macro epoch_ms_is_valid(epoch_ms) -%}
    {#- The time rule of a point: from var min_valid_epoch_ms on, at most var max_future_ms ahead of
        now. The loader applies the same vars to the latest readings it keeps (loader/landing.py). -#}
    ({{ epoch_ms }} >= {{ var('min_valid_epoch_ms') }}
        and {{ epoch_ms }} <= extract(epoch from now()) * 1000 + {{ var('max_future_ms') }})
{%- endmacro %}


{% macro soc_is_valid(value) -%}
    {#- The state-of-charge rule: within var soc_valid_range_pct. The loader applies it too. -#}
    ({{ value }} between {{ var('soc_valid_range_pct')[0] }} and {{ var('soc_valid_range_pct')[1] }})
{%- endmacro %}


{% macro is_energy_counter(metric_name) -%}
    {#- Whether a series is a cumulative energy counter: its name matches var energy_counter_name_pattern. -#}
    ({{ metric_name }} ilike '{{ var("energy_counter_name_pattern") }}')
{%- endmacro %}
