{% macro drop_retired_relations() -%}
    {#- on-run-start: drops what an earlier version of the project built and this one does not. The
        per-reading counter deltas are computed where they are used now; on TimescaleDB the continuous
        aggregate battery_energy_daily read them and goes with them (cascade), to be built again from
        battery_telemetry as an incremental table. -#}
    drop table if exists {{ adapter.quote(target.schema) }}.int_telemetry_counter_deltas cascade
{%- endmacro %}
