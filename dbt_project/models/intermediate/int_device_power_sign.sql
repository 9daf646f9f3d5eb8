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
    window device_in_time as (partition by device_id order by recorded_at)
),

evidence as (
    select
        device_id,
        count(*) filter (where is_informative and soc_direction != 0) as soc_samples,
        sum(power_direction * soc_direction) filter (where is_informative and soc_direction != 0)
            as soc_agreement,
        count(*) filter (where is_informative and counter_direction != 0) as counter_samples,
        sum(power_direction * counter_direction) filter (where is_informative and counter_direction != 0)
            as counter_agreement
    from samples_with_power
    group by device_id
),

chosen_evidence as (
    select
        device_id,
        case
            when soc_samples > 0 and soc_agreement != 0 then 'soc_slope'
            when counter_samples > 0 and counter_agreement != 0 then 'battery_counters'
            else 'assumed'
        end as evidence_method,
        case
            when soc_samples > 0 and soc_agreement != 0 then soc_samples
            when counter_samples > 0 and counter_agreement != 0 then counter_samples
            else 0
        end as evidence_samples,
        case
            when soc_samples > 0 and soc_agreement != 0 then soc_agreement
            when counter_samples > 0 and counter_agreement != 0 then counter_agreement
            else 0
        end as net_agreement
    from evidence
),

final as (
    select
        device_id,
        case when net_agreement < 0 then -1 else 1 end as charge_sign,
        case when net_agreement < 0 then 'discharge' else 'charge' end as power_positive_means,
        evidence_method,
        evidence_samples,
        round((100.0 * (evidence_samples + abs(net_agreement)) / nullif(2 * evidence_samples, 0))::numeric, 1)
            as agreement_pct
    from chosen_evidence
)

select * from final
