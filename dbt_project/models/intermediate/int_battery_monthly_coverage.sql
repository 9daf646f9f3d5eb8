{{ config(materialized='table') }}

{#-
    How much of each device-month the battery data covers, and so whether the month's figures speak
    for a whole month: a month whose covered hours are below monthly_min_coverage_pct of its hours
    (a device commissioned or retired mid-month, the month still running, a long outage) is partial.
    Rebuilt each build from one row per device-day.
-#}

with

battery_days as (
    select
        device_id,
        day,
        day_hours,
        coverage_pct
    from {{ ref('int_battery_daily') }}
),

months as (
    select
        device_id,
        date_trunc('month', day)::date as month,
        count(*) as days_with_data,
        -- A day whose samples count no time (a lone sample) covers nothing.
        coalesce(sum(day_hours * coverage_pct / 100.0), 0) as hours_covered
    from battery_days
    group by device_id, date_trunc('month', day)::date
),

month_lengths as (
    select
        *,
        extract(
            epoch from {{ reporting_period_start("month + interval '1 month'") }} - {{ reporting_period_start('month') }}
        ) / 3600.0 as month_hours
    from months
),

final as (
    select
        device_id,
        month,
        days_with_data,
        hours_covered,
        month_hours,
        hours_covered >= {{ var('monthly_min_coverage_pct') }} / 100.0 * month_hours as is_whole_month
    from month_lengths
)

select * from final
