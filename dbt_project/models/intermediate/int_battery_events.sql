{{
    config(
        incremental_strategy='replace_windows',
        window_column='event_start',
        indexes=[
            {'columns': ['device_id', 'event_start'], 'unique': True},
            {'columns': ['device_id', 'event_end']},
        ],
    )
}}

{#-
    Charge and discharge events, segmented with hysteresis: a run of samples in which battery power
    (in the device's detected sign) stays above the idle threshold in one direction for at least
    event_min_run_minutes starts or extends an event; runs of the same direction less than
    event_merge_max_minutes apart, with no gap between them, are one event, whatever short idle dips
    or opposite spikes lie between (clouds over a solar charge, a kettle during a discharge). An
    event spans from the start of its first such run to the end of its last.
    Incremental: each build recomputes, per device the batch touched, the events from
    battery_event_windows' recompute_from on (the strategy 'replace_windows' replaces them).
-#}

{%- set idle_w = var('battery_idle_max_power_w') %}

with

{% if is_incremental() %}
    recompute_windows as (
        {{ battery_event_windows(this, after_rewrite=false) }}
    ),
{% endif %}

samples as (
    select
        samples.device_id,
        samples.recorded_at,
        samples.soc_pct,
        power_sign.charge_sign,
        samples.battery_power_w * power_sign.charge_sign as charge_power_w,
        samples.counted_ms / 1000.0::double precision as seconds_counted,
        samples.is_gap_after,
        case
            when samples.battery_power_w * power_sign.charge_sign > {{ idle_w }} then 'charge'
            when samples.battery_power_w * power_sign.charge_sign < -{{ idle_w }} then 'discharge'
            else 'idle'
        end as battery_state
    from (
        {{ device_rows_since(ref('int_battery_samples'), 'recompute_windows' if is_incremental() else none) }}
    ) as samples
    inner join {{ ref('int_device_power_sign') }} as power_sign
        on samples.device_id = power_sign.device_id
),

run_starts as (
    select
        *,
        case
            when
                battery_state = lag(battery_state) over device_in_time
                and not lag(is_gap_after) over device_in_time
                then 0
            else 1
        end as starts_run,
        -- Gaps so far: runs of one direction with a gap between them are never one event.
        sum(case when is_gap_after then 1 else 0 end) over device_in_time
        - case when is_gap_after then 1 else 0 end as gaps_before
    from samples
    window device_in_time as (partition by device_id order by recorded_at)
),

numbered_runs as (
    select
        *,
        sum(starts_run) over (partition by device_id order by recorded_at) as run_number
    from run_starts
),

runs as (
    -- Power statistics are summed per run here, so events add up runs, never samples again.
    select
        device_id,
        run_number,
        min(battery_state) as battery_state,
        min(charge_sign) as charge_sign,
        min(gaps_before) as gaps_before,
        min(recorded_at) as run_start,
        max(recorded_at + coalesce(seconds_counted, 0) * interval '1 second') as run_end,
        sum(seconds_counted) as run_seconds,
        count(*) as samples,
        count(charge_power_w) as power_samples,
        sum(charge_power_w * seconds_counted) as net_power_ws,
        sum(abs(charge_power_w) * seconds_counted) as abs_power_ws,
        sum(abs(charge_power_w)) as abs_power_sum,
        sum(charge_power_w * charge_power_w) as squared_power_sum
    from numbered_runs
    group by device_id, run_number
),

lasting_runs as (
    select
        *,
        lag(battery_state) over device_in_time as previous_state,
        lag(run_end) over device_in_time as previous_end,
        lag(gaps_before) over device_in_time as previous_gaps_before
    from runs
    where battery_state != 'idle' and run_seconds >= {{ var('event_min_run_minutes') }} * 60
    window device_in_time as (partition by device_id order by run_start)
),

event_starts as (
    select
        *,
        sum(
            case
                when
                    battery_state = previous_state
                    and gaps_before = previous_gaps_before
                    and run_start - previous_end <= interval '{{ var("event_merge_max_minutes") }} minutes'
                    then 0
                else 1
            end
        ) over (partition by device_id order by run_start) as event_number
    from lasting_runs
),

event_spans as (
    select
        device_id,
        event_number,
        min(battery_state) as event_type,
        min(charge_sign) as charge_sign,
        min(run_start) as event_start,
        max(run_end) as event_end,
        count(*) as lasting_runs
    from event_starts
    group by device_id, event_number
),

runs_in_events as (
    -- Every run between an event's first and last lasting run belongs to it: event numbers only grow
    -- in time, so a run lies inside an event when the lasting runs on either side belong to it.
    select
        runs.*,
        max(event_starts.event_number) over (
            partition by runs.device_id order by runs.run_number
        ) as event_before,
        min(event_starts.event_number) over (
            partition by runs.device_id order by runs.run_number rows between current row and unbounded following
        ) as event_after
    from runs
    left join event_starts
        on runs.device_id = event_starts.device_id and runs.run_number = event_starts.run_number
),

event_power as (
    select
        device_id,
        event_before as event_number,
        sum(samples) as sample_count,
        sum(run_seconds) filter (where battery_state = 'idle') as idle_seconds,
        sum(net_power_ws) / 3600000.0 as net_power_energy_kwh,
        sum(abs_power_ws) / nullif(sum(run_seconds), 0) / 1000.0 as avg_power_kw,
        sqrt(greatest(
            sum(squared_power_sum) / nullif(sum(power_samples), 0)
            - power(sum(abs_power_sum) / nullif(sum(power_samples), 0), 2),
            0
        )) / nullif(sum(abs_power_sum) / nullif(sum(power_samples), 0), 0) as power_cv
    from runs_in_events
    where event_before = event_after
    group by device_id, event_before
),

events as (
    select
        event_spans.device_id,
        event_spans.event_start,
        event_spans.event_type,
        event_spans.event_end,
        extract(epoch from event_spans.event_end - event_spans.event_start) / 3600.0 as event_hours,
        event_spans.lasting_runs,
        event_power.sample_count,
        coalesce(event_power.idle_seconds, 0) / 60.0 as idle_minutes,
        abs(event_power.net_power_energy_kwh) as power_energy_kwh,
        event_power.avg_power_kw,
        event_power.power_cv,
        event_spans.charge_sign,
        '{{ invocation_id }}'::text as batch_id
    from event_spans
    inner join event_power
        on event_spans.device_id = event_power.device_id and event_spans.event_number = event_power.event_number
),

final as (
    {{
        recomputed_rows(
            'events',
            [
                'event_start', 'event_type', 'event_end', 'event_hours', 'lasting_runs', 'sample_count',
                'idle_minutes', 'power_energy_kwh', 'avg_power_kw', 'power_cv', 'charge_sign', 'batch_id'
            ],
            'event_start'
        )
    }}
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
