{% macro battery_batch_windows(samples) -%}
    {#- One row per device whose battery readings this build's batch touched: `changed_from`, its
        earliest new reading, and `write_from`, the sample before it in `samples` (int_battery_samples
        or its {{ this }}), from which int_battery_samples rewrites the device. The one definition of
        that window, for int_battery_samples and for every model that recomputes from it. -#}
    select
        changed_devices.device_id,
        changed_devices.changed_from,
        coalesce(previous_sample.recorded_at, changed_devices.changed_from) as write_from
    from (
        select
            device_id,
            min(changed_from) as changed_from
        from {{ ref('int_telemetry_batch_changes') }}
        where
            batch_id = '{{ invocation_id }}'
            and metric_name in {{ battery_timeline_metrics() }}
        group by device_id
    ) as changed_devices
    left join lateral (
        select samples.recorded_at
        from {{ samples }} as samples
        where
            samples.device_id = changed_devices.device_id
            and samples.recorded_at < changed_devices.changed_from
        order by samples.recorded_at desc
        limit 1
    ) as previous_sample on true
{%- endmacro %}
