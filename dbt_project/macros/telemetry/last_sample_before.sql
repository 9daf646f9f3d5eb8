{% macro last_sample_before(device_id, before, condition) -%}
    {#- A lateral subquery: recorded_at of the device's latest int_battery_samples row before `before`
        that meets `condition` (SQL on alias `samples`), found backwards through the index. -#}
    lateral (
        select samples.recorded_at
        from {{ ref('int_battery_samples') }} as samples
        where
            samples.device_id = {{ device_id }}
            and samples.recorded_at < {{ before }}
            and {{ condition }}
        order by samples.recorded_at desc
        limit 1
    )
{%- endmacro %}
