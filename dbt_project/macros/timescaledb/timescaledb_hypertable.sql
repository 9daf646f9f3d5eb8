{% macro timescaledb_hypertable(relation) -%}
    {#-
        Post-hook for an incremental model that should be a hypertable. Reads the model's config, named
        as dbt-timescaledb names them so a later switch to that adapter stays cheap:
          main_dimension       time column (required)
          chunk_time_interval  e.g. '7 days'
          compression          {'after': '7 days', 'segmentby': [...], 'orderby': 'recorded_at'} or none
          retention_policy     {'drop_after': '2 years'} or none (none removes an existing policy)
          create_default_indexes  false: no index on the time column alone (and an existing one is
                               dropped), for tables only ever read by device and time
        Every statement is idempotent and only changes what differs, so it runs on every build.
        On plain PostgreSQL it adds a BRIN index on the time column instead.
    -#}
    {%- set time_column = config.get('main_dimension') -%}
    {%- if not execute -%}
        select 'parsing' as timescaledb_hypertable
    {%- elif not time_column -%}
        {{ exceptions.raise_compiler_error("timescaledb_hypertable needs config main_dimension on " ~ relation) }}
    {%- elif not is_timescaledb() -%}
        {#- A regular table; a BRIN index on the time column (a few pages: rows arrive roughly in time
            order) stands in for chunk exclusion, so a query for recent rows reads only their pages. -#}
        create index if not exists {{ relation.identifier }}__time_brin on {{ relation }} using brin ({{ time_column }})
    {%- else -%}
        {%- set chunk_interval = config.get('chunk_time_interval', '7 days') -%}
        {%- set compression = config.get('compression') -%}
        {%- set retention = config.get('retention_policy') -%}
        select create_hypertable(
            '{{ relation }}'::regclass,
            by_range('{{ time_column }}', interval '{{ chunk_interval }}'),
            create_default_indexes => {{ config.get('create_default_indexes', true) }},
            if_not_exists => true,
            migrate_data => true
        );
        select set_chunk_time_interval('{{ relation }}'::regclass, interval '{{ chunk_interval }}');
        {%- if not config.get('create_default_indexes', true) %}
            drop index if exists {{ relation.schema }}.{{ relation.identifier }}_{{ time_column }}_idx;
        {%- endif %}
        {%- if compression %}
            {%- set segmentby = compression.get('segmentby', []) | join(',') -%}
            {%- set orderby = compression.get('orderby', time_column) %}
            do $$
            begin
                if not exists (
                    select 1 from timescaledb_information.hypertable_compression_settings
                    where hypertable = '{{ relation }}'::regclass
                        and coalesce(segmentby, '') = '{{ segmentby }}'
                        and orderby = '{{ orderby }}'
                ) then
                    alter table {{ relation }} set (
                        timescaledb.compress,
                        timescaledb.compress_segmentby = '{{ segmentby }}',
                        timescaledb.compress_orderby = '{{ orderby }}'
                    );
                end if;
                {{ timescaledb_set_policy(relation, 'compression', 'compress_after', compression['after']) }}
            end
            $$;
        {%- endif %}
        do $$
        begin
        {%- if retention %}
            {{ timescaledb_set_policy(relation, 'retention', 'drop_after', retention['drop_after']) }}
        {%- else %}
            perform remove_retention_policy('{{ relation }}'::regclass, if_exists => true);
        {%- endif %}
        end
        $$
    {%- endif -%}
{%- endmacro %}
