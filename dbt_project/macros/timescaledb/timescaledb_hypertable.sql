{% macro timescaledb_hypertable(relation) -%}
    {#-
        Post-hook for an incremental model that should be a hypertable: one statement per setting (the
        macros below). Reads the model's config, keys named as dbt-timescaledb names them (values are
        plain interval strings here, SQL there):
          main_dimension       time column (required)
          chunk_time_interval  e.g. '7 days' (default var telemetry_chunk_interval)
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
        {%- set chunk_interval = config.get('chunk_time_interval') or var('telemetry_chunk_interval') -%}
        {%- set create_default_indexes = config.get('create_default_indexes', true) -%}
        {%- set compression = config.get('compression') -%}
        {%- set retention = config.get('retention_policy') -%}
        {{ timescaledb_create_hypertable(relation, time_column, chunk_interval, create_default_indexes) }};
        {{ timescaledb_set_chunk_interval(relation, chunk_interval) }};
        {%- if not create_default_indexes %}
            {{ timescaledb_drop_time_index(relation, time_column) }};
        {%- endif %}
        {%- if compression %}
            {{ timescaledb_compression(relation, compression.get('segmentby', []), compression.get('orderby', time_column),
                                       compression['after']) }};
        {%- endif %}
        {{ timescaledb_retention(relation, retention['drop_after'] if retention else none) }}
    {%- endif -%}
{%- endmacro %}
