{{ config(indexes=[{'columns': ['device_id', 'hour_start'], 'unique': True}]) }}

-- A continuous aggregate: no CTEs allowed (TimescaleDB), so this model is one plain select.
-- Sums, not averages, so hours roll up to days exactly: time-weighted SoC = soc_seconds_weighted /
-- soc_seconds; the samples count their time in whole milliseconds (counted_ms). Power is integrated
-- in the device's raw sign; the marts apply the detected sign.
select
    device_id,
    {{ bucket_start('1 hour', 'recorded_at') }} as hour_start,
    sum(counted_ms) / 1000.0::double precision as seconds_covered,
    sum(case when soc_pct is not null then counted_ms end) / 1000.0::double precision as soc_seconds,
    sum(soc_pct * counted_ms) / 1000.0 as soc_seconds_weighted,
    sum(case when soc_pct >= {{ var('high_soc_pct') }} then counted_ms else 0 end) / 1000.0::double precision
        as seconds_soc_high,
    sum(case when soc_pct <= {{ var('low_soc_pct') }} then counted_ms else 0 end) / 1000.0::double precision
        as seconds_soc_low,
    min(soc_pct) as soc_min,
    max(soc_pct) as soc_max,
    sum(case when battery_power_w > 0 then battery_power_w * counted_ms else 0 end)
    / 3600000000.0 as positive_power_kwh,
    sum(case when battery_power_w < 0 then -battery_power_w * counted_ms else 0 end)
    / 3600000000.0 as negative_power_kwh,
    count(battery_power_w) as power_samples,
    sum(import_delta_kwh) as import_counter_kwh,
    sum(export_delta_kwh) as export_counter_kwh,
    sum(case when is_import_reading then 1 else 0 end) as import_readings,
    sum(case when is_export_reading then 1 else 0 end) as export_readings,
    sum(case when has_counter_reset then 1 else 0 end) as counter_resets,
    sum(case when has_counter_jump then 1 else 0 end) as counter_jumps,
    count(*) as sample_count
from {{ ref('int_battery_samples') }}
where {{ rollup_source_filter('recorded_at') }}
group by device_id, {{ bucket_start('1 hour', 'recorded_at') }}

-- depends_on: {{ ref('int_telemetry_batch_changes') }}
