{% macro timescaledb_set_policy(relation, kind, interval_key, interval) -%}
    {#- PL/pgSQL statements (for a DO block) that give `relation` a `kind` policy ('compression' or
        'retention') whose `interval_key` setting is `interval`, replacing an existing policy of that
        kind only when its setting differs, so re-running changes nothing. -#}
    if not exists (
        select 1 from timescaledb_information.jobs
        where proc_name = 'policy_{{ kind }}'
            and hypertable_schema = '{{ relation.schema }}' and hypertable_name = '{{ relation.identifier }}'
            and (config ->> '{{ interval_key }}')::interval = interval '{{ interval }}'
    ) then
        perform remove_{{ kind }}_policy('{{ relation }}'::regclass, if_exists => true);
        perform add_{{ kind }}_policy('{{ relation }}'::regclass, interval '{{ interval }}');
    end if;
{%- endmacro %}
