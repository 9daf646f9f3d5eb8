{% macro continuous_aggregate_refresh_policy(relation, policy) -%}
    {#- Set a continuous aggregate's refresh policy to `policy` ({'start_offset', 'end_offset',
        'schedule_interval'}), replacing an existing policy only when it differs. -#}
    {%- for key in ['start_offset', 'end_offset', 'schedule_interval'] if key not in policy -%}
        {{ exceptions.raise_compiler_error("refresh_policy of " ~ relation ~ " needs " ~ key) }}
    {%- endfor -%}
    do $$
    begin
        if not exists (
            select 1 from timescaledb_information.jobs
            where proc_name = 'policy_refresh_continuous_aggregate'
                and hypertable_schema = '{{ relation.schema }}' and hypertable_name = '{{ relation.identifier }}'
                and (config ->> 'start_offset')::interval = interval '{{ policy["start_offset"] }}'
                and (config ->> 'end_offset')::interval = interval '{{ policy["end_offset"] }}'
                and schedule_interval = interval '{{ policy["schedule_interval"] }}'
        ) then
            perform remove_continuous_aggregate_policy('{{ relation }}'::regclass, if_exists => true);
            perform add_continuous_aggregate_policy(
                '{{ relation }}'::regclass,
                start_offset => interval '{{ policy["start_offset"] }}',
                end_offset => interval '{{ policy["end_offset"] }}',
                schedule_interval => interval '{{ policy["schedule_interval"] }}'
            );
        end if;
    end
    $$
{%- endmacro %}
