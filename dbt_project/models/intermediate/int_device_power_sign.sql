{{ config(materialized='table') }}

{#-
    Which way a device's battery power points. Vendors differ: some report charging as positive,
    some as negative. The evidence is how power agrees with what followed it: the SoC rising or
    falling to the next sample, else (no SoC) the import and export counters counting. A device with
    no such evidence is assumed to report charging as positive, and says so in `evidence_method`.
-#}

{%- set idle_w = var('battery_idle_max_power_w') %}

with

samples_with_power as (
    select
        device_id,
        sign(battery_power_w) as power_direction,
        sign(lead(soc_pct) over device_in_time - soc_pct) as soc_direction,
        sign(lead(import_delta_kwh) over device_in_time - lead(export_delta_kwh) over device_in_time)
            as counter_direction,
        abs(battery_power_w) > {{ idle_w }} and not is_gap_after as is_informative
    from {{ ref('int_battery_samples') }}
    where not is_hour_boundary
    window device_in_time as (partition by device_id order by recorded_at)
),

evidence as (
    -- One row per informative sample and kind of evidence: +1 where power's sign agrees with
    -- "positive = charge", -1 where it contradicts it. SoC is preferred over the counters.
    select
        device_id,
        'soc_slope' as evidence_method,
        1 as preference,
        power_direction * soc_direction as agreement
    from samples_with_power
    where is_informative and soc_direction != 0
    union all
    select
        device_id,
        'battery_counters' as evidence_method,
        2 as preference,
        power_direction * counter_direction as agreement
    from samples_with_power
    where is_informative and counter_direction != 0
),

evidence_totals as (
    select
        device_id,
        evidence_method,
        preference,
        count(*) as evidence_samples,
        sum(agreement) as net_agreement
    from evidence
    group by device_id, evidence_method, preference
    having sum(agreement) != 0
),

chosen_evidence as (
    select distinct on (device_id) *
    from evidence_totals
    order by device_id asc, preference asc
),

devices as (
    select distinct device_id
    from samples_with_power
),

final as (
    select
        devices.device_id,
        case when chosen_evidence.net_agreement < 0 then -1 else 1 end as charge_sign,
        case when chosen_evidence.net_agreement < 0 then 'discharge' else 'charge' end as power_positive_means,
        coalesce(chosen_evidence.evidence_method, 'assumed') as evidence_method,
        coalesce(chosen_evidence.evidence_samples, 0) as evidence_samples,
        round(
            (
                100.0 * (chosen_evidence.evidence_samples + abs(chosen_evidence.net_agreement))
                / (2 * chosen_evidence.evidence_samples)
            )::numeric,
            1
        ) as agreement_pct
    from devices
    left join chosen_evidence
        on devices.device_id = chosen_evidence.device_id
)

select * from final
