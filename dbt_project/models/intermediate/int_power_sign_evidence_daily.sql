{{
    config(
        incremental_strategy='replace_windows',
        window_column='day_start',
        indexes=[{'columns': ['device_id', 'day_start'], 'unique': True}],
    )
}}

{#-
    The evidence int_device_power_sign weighs, counted per device and UTC day, so a build recounts
    only the days whose samples it rewrote. Evidence is how a sample's power sign agrees with what
    followed it: the SoC rising or falling to the next sample, and the import and export counters
    counting. Only samples with |power| above the idle threshold and no gap after them count.
    Incremental: per device the batch touched, from the day of its rewritten samples minus a gap cap
    (the sample before them looks at them).
-#}

{%- set idle_w = var('battery_idle_max_power_w') %}

with

{% if is_incremental() %}
    recompute_windows as (
        select
            device_id,
            {{ bucket_start('1 day', "write_from - interval '" ~ var('sample_gap_cap_seconds') ~ " seconds'") }}
                as recompute_from
        from ({{ battery_batch_windows(ref('int_battery_samples')) }}) as batch_windows
    ),
{% endif %}

samples_with_power as (
    select
        device_id,
        {{ bucket_start('1 day', 'recorded_at') }} as day_start,
        sign(battery_power_w) as power_direction,
        sign(lead(soc_pct) over device_in_time - soc_pct) as soc_direction,
        sign(lead(import_delta_kwh) over device_in_time - lead(export_delta_kwh) over device_in_time)
            as counter_direction,
        abs(battery_power_w) > {{ idle_w }} and not is_gap_after as is_informative
    from (
        {{ device_rows_since(ref('int_battery_samples'), 'recompute_windows' if is_incremental() else none) }}
    ) as samples
    where not is_hour_boundary
    window device_in_time as (partition by device_id order by recorded_at)
),

daily_evidence as (
    -- +1 where power's sign agrees with "positive = charge", -1 where it contradicts it.
    select
        device_id,
        day_start,
        count(*) filter (where is_informative and soc_direction != 0) as soc_evidence_samples,
        coalesce(sum(power_direction * soc_direction) filter (where is_informative and soc_direction != 0), 0)
            as soc_net_agreement,
        count(*) filter (where is_informative and counter_direction != 0) as counter_evidence_samples,
        coalesce(
            sum(power_direction * counter_direction) filter (where is_informative and counter_direction != 0), 0
        ) as counter_net_agreement
    from samples_with_power
    group by device_id, day_start
),

final as (
    {{
        recomputed_rows(
            'daily_evidence',
            [
                'day_start', 'soc_evidence_samples', 'soc_net_agreement', 'counter_evidence_samples',
                'counter_net_agreement'
            ],
            'day_start'
        )
    }}
)

select * from final

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
