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
            and metric_name in (
                '{{ var("soc_metric_name") }}', '{{ var("battery_power_metric_name") }}',
                '{{ var("battery_import_metric_name") }}', '{{ var("battery_export_metric_name") }}'
            )
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


{% macro device_rows_since(relation, windows=none, since_column='recompute_from', lookback_seconds=0, condition=none) -%}
    {#- The rows of `relation` (keyed by device_id, recorded_at) that meet `condition` (SQL, optional),
        or with `windows` (a CTE with device_id and `since_column`) only each listed device's rows from
        since_column minus lookback_seconds on: read per device through an index, laterally and fenced
        with `offset 0` so the planner cannot flatten it into a join that scans the whole table. -#}
    {%- if windows is none -%}
        select * from {{ relation }}
        {%- if condition %} where {{ condition }}{% endif %}
    {%- else -%}
        select device_rows.*
        from {{ windows }}
        cross join lateral (
            select *
            from {{ relation }} as rows_of_device
            where
                rows_of_device.device_id = {{ windows }}.device_id
                and rows_of_device.recorded_at
                >= {{ windows }}.{{ since_column }} - interval '{{ lookback_seconds }} seconds'
                {%- if condition %}
                and {{ condition }}
                {%- endif %}
            offset 0  -- noqa: AM09
        ) as device_rows
    {%- endif -%}
{%- endmacro %}


{% macro recomputed_rows(rows, columns, window_column, windows='recompute_windows', from_everything="'-infinity'::timestamptz") -%}
    {#- The final select of a 'replace_windows' model: device_id, `columns` of CTE `rows` and
        recomputed_from. Incremental: every device of `windows` (device_id, recompute_from) with its
        rows at or after its recompute_from, or one row with only device_id and recomputed_from when
        it has none, so the strategy still removes what it held there. From scratch: every row, with
        recomputed_from = `from_everything`. -#}
    select
        {{ windows if is_incremental() else rows }}.device_id,
        {%- for column in columns %}
        {{ rows }}.{{ column }},
        {%- endfor %}
        {{ windows ~ '.recompute_from' if is_incremental() else from_everything }} as recomputed_from
    {%- if is_incremental() %}
    from {{ windows }}
    left join {{ rows }}
        on {{ windows }}.device_id = {{ rows }}.device_id and {{ windows }}.recompute_from <= {{ rows }}.{{ window_column }}
    {%- else %}
    from {{ rows }}
    {%- endif %}
{%- endmacro %}


{% macro soc_reading_in(device_id, starts_at, ends_at=none, latest=false) -%}
    {#- A lateral subquery: the first (latest=true: the last) SoC of the device in int_battery_samples
        at or after starts_at (and before ends_at), by one index lookup, never a scan. -#}
    lateral (
        select samples.soc_pct
        from {{ ref('int_battery_samples') }} as samples
        where
            samples.device_id = {{ device_id }}
            and samples.soc_pct is not null
            and samples.recorded_at >= {{ starts_at }}
            {%- if ends_at is not none %}
            and samples.recorded_at < {{ ends_at }}
            {%- endif %}
        order by samples.recorded_at {{ 'desc' if latest else 'asc' }}
        limit 1
    )
{%- endmacro %}


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


{% macro last_reading_before(device_id, metric_name, before) -%}
    {#- A lateral subquery: recorded_at of the series' latest battery_telemetry reading before
        `before`, found backwards through the index. -#}
    lateral (
        select telemetry.recorded_at
        from {{ ref('battery_telemetry') }} as telemetry
        where
            telemetry.device_id = {{ device_id }}
            and telemetry.metric_name = {{ metric_name }}
            and telemetry.recorded_at < {{ before }}
        order by telemetry.recorded_at desc
        limit 1
    )
{%- endmacro %}
