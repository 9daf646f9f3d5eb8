{{ config(materialized='table') }}

{#-
    Which way a device's battery power points. Vendors differ: some report charging as positive,
    some as negative. The evidence is how power agrees with what followed it: the SoC rising or
    falling to the next sample, else (no SoC) the import and export counters counting, summed from
    int_power_sign_evidence_daily. A device with no such evidence is assumed to report charging as
    positive, and says so in `evidence_method`.
-#}

with

evidence as (
    -- Totals of the daily evidence per device and kind; SoC is preferred over the counters.
    select
        device_id,
        'soc_slope' as evidence_method,
        1 as preference,
        sum(soc_evidence_samples)::bigint as evidence_samples,
        sum(soc_net_agreement) as net_agreement
    from {{ ref('int_power_sign_evidence_daily') }}
    group by device_id
    union all
    select
        device_id,
        'battery_counters' as evidence_method,
        2 as preference,
        sum(counter_evidence_samples)::bigint as evidence_samples,
        sum(counter_net_agreement) as net_agreement
    from {{ ref('int_power_sign_evidence_daily') }}
    group by device_id
),

evidence_totals as (
    select *
    from evidence
    where net_agreement != 0
),

chosen_evidence as (
    select distinct on (device_id) *
    from evidence_totals
    order by device_id asc, preference asc
),

devices as (
    select distinct device_id
    from {{ ref('int_power_sign_evidence_daily') }}
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
