{% macro battery_event_windows(events, after_rewrite) -%}
    {#- One row per device the batch touched: its `write_from` (battery_batch_windows) and
        `recompute_from`, the time from which its events (and
        what is measured per event) are recomputed. Rows of int_battery_samples change from write_from
        on; a run that reaches an event can start up to event_min_run_minutes plus a gap cap before
        that, and join an event that ended up to event_merge_max_minutes earlier, and a segment reads
        counters up to counter_interpolation_max_seconds around it: so the window starts at the
        earliest event of `events` that ends within that margin of write_from, or at write_from minus
        the margin. A device whose power sign changed is recomputed whole.
        `events` is int_battery_events before this build rewrote it ({{ this }} inside it) or after
        (after_rewrite=true: then the window also reaches back to where that rewrite started, read
        from the latest event's recomputed_from if this build wrote it, else to just after that event,
        so rows of events the rewrite removed are replaced too). -#}
    {%- set margin_seconds = (var('event_min_run_minutes') + var('event_merge_max_minutes')) * 60
        + var('sample_gap_cap_seconds') + var('counter_interpolation_max_seconds') %}
    select
        batch_windows.device_id,
        batch_windows.write_from,
        case
            when latest_event.charge_sign != power_sign.charge_sign then '-infinity'::timestamptz
            else least(
                batch_windows.write_from - interval '{{ margin_seconds }} seconds',
                open_events.earliest_start
                {%- if after_rewrite %},
                case
                    when latest_event.batch_id = '{{ invocation_id }}' then latest_event.recomputed_from
                    -- This build wrote no event of the device: those after its latest one are gone.
                    else latest_event.event_start + interval '1 microsecond'
                end
                {%- endif %}
            )
        end as recompute_from
    from ({{ battery_batch_windows(ref('int_battery_samples')) }}) as batch_windows
    inner join {{ ref('int_device_power_sign') }} as power_sign
        on batch_windows.device_id = power_sign.device_id
    left join lateral (
        select min(events.event_start) as earliest_start
        from {{ events }} as events
        where
            events.device_id = batch_windows.device_id
            and events.event_end >= batch_windows.write_from - interval '{{ margin_seconds }} seconds'
    ) as open_events on true
    left join lateral (
        select
            events.event_start,
            events.charge_sign,
            events.recomputed_from,
            events.batch_id
        from {{ events }} as events
        where events.device_id = batch_windows.device_id
        order by events.event_start desc
        limit 1
    ) as latest_event on true
{%- endmacro %}
