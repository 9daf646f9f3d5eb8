{% macro epoch_ms_is_valid(epoch_ms) -%}
    {#- The time rule of a point: from var min_valid_epoch_ms on, at most var max_future_ms ahead of
        now. The loader applies the same vars to the latest readings it keeps (loader/landing.py). -#}
    ({{ epoch_ms }} >= {{ var('min_valid_epoch_ms') }}
        and {{ epoch_ms }} <= extract(epoch from now()) * 1000 + {{ var('max_future_ms') }})
{%- endmacro %}
