{% materialization continuous_aggregate, adapter='postgres' %}
    {#-
        A TimescaleDB continuous aggregate, created once and kept across runs (a normal run never drops
        it); each run re-applies its settings and refresh policy, and refreshes it so late data shows.
        On plain PostgreSQL it is a table, built once and then refreshed in place for the buckets each
        build's batch touched (config bucket_width and bucket_column; rollup_source_filter in the WHERE).
        Config (names as dbt-timescaledb's):
          materialized_only  false (default) = real-time aggregation on
          refresh_policy     {'start_offset': '3 days', 'end_offset': '1 hour', 'schedule_interval': '1 hour'}
          refresh_now        true (default): refresh on every dbt run, not only by the policy's job
          compress_after     compress buckets older than this (default var rollup_compress_after; none: never)
          compress_segmentby, compress_orderby  how compressed buckets are grouped and ordered (default
                             TimescaleDB's: a segment per value of every group-by column but the bucket);
                             set when compression is enabled, so a change needs --full-refresh
          chunk_time_interval  the materialization hypertable's chunks (default: TimescaleDB's, 10x the
                             source's); an hourly rollup needs chunks short enough to grow old and compress
          create_group_indexes false (default): no index per group-by column; the chunks are small and
                             compressed, and the indexes would double an uncompressed chunk's size
        A changed model SQL takes effect only with --full-refresh (which drops and re-creates it).
    -#}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='materialized_view') -%}
    {%- set rebuild = existing_relation is none or should_full_refresh() -%}
    {%- set timescaledb = is_timescaledb() -%}
    {%- set materialized_only = config.get('materialized_only', false) -%}
    {%- set refresh_policy = config.get('refresh_policy') -%}

    {%- if timescaledb and not target.autocommit -%}
        {{ exceptions.raise_compiler_error(
            "Continuous aggregate " ~ this ~ " needs `autocommit: true` in the dbt profile: "
            ~ "refresh_continuous_aggregate cannot run inside a transaction block.") }}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}

    {%- if existing_relation is not none and should_full_refresh() %}
        {% call statement('drop_existing') -%}
            {#- TimescaleDB lists a continuous aggregate as a view, but only DROP MATERIALIZED VIEW drops it. -#}
            drop {{ 'materialized view' if timescaledb or existing_relation.type == 'materialized_view' else existing_relation.type }}
                if exists {{ existing_relation }} cascade
        {%- endcall %}
    {%- endif %}

    {%- if timescaledb %}
        {% call statement('main') -%}
            {%- if rebuild %}
                create materialized view {{ target_relation }}
                with (
                    timescaledb.continuous,
                    timescaledb.materialized_only = {{ materialized_only }},
                    timescaledb.create_group_indexes = {{ config.get('create_group_indexes', false) }}
                )
                as {{ sql }}
                with no data
            {%- else %}
                alter materialized view {{ target_relation }}
                set (timescaledb.materialized_only = {{ materialized_only }})
            {%- endif %}
        {%- endcall %}
        {%- if config.get('chunk_time_interval') %}
            {% call statement('chunk_interval') -%}
                {{ continuous_aggregate_chunk_interval(target_relation, config.get('chunk_time_interval')) }}
            {%- endcall %}
        {%- endif %}
        {%- if refresh_policy %}
            {% call statement('refresh_policy') -%}
                {{ continuous_aggregate_refresh_policy(target_relation, refresh_policy) }}
            {%- endcall %}
        {%- endif %}
        {%- if config.get('compress_after', var('rollup_compress_after')) %}
            {% call statement('compression') -%}
                {{ continuous_aggregate_compression(
                    target_relation, config.get('compress_after', var('rollup_compress_after')),
                    config.get('compress_segmentby'), config.get('compress_orderby')) }}
            {%- endcall %}
        {%- endif %}
        {%- if rebuild or config.get('refresh_now', true) %}
            {% call statement('refresh') -%}
                call refresh_continuous_aggregate('{{ target_relation }}', null, null)
            {%- endcall %}
        {%- endif %}
    {%- else %}
        {#- Plain PostgreSQL: a table. Built whole the first time (and from a materialized view, as
            versions before this one made); then each build deletes and recomputes only the buckets
            from rollup_refresh_start() on, reading only their source rows (rollup_source_filter in
            the model's WHERE). -#}
        {%- set table_relation = this.incorporate(type='table') -%}
        {%- if existing_relation is not none and existing_relation.type != 'table' and not should_full_refresh() %}
            {% call statement('drop_materialized_view') -%}
                drop materialized view if exists {{ existing_relation }} cascade
            {%- endcall %}
        {%- endif %}
        {%- if rebuild or existing_relation.type != 'table' %}
            {% call statement('main') -%}
                create table {{ table_relation }} as {{ sql }}
            {%- endcall %}
            {% do create_indexes(table_relation) %}
        {%- else %}
            {%- set start = rollup_refresh_start() -%}
            {% call statement('main') -%}
                {%- if start is not none %}
                    delete from {{ table_relation }} where {{ config.get('bucket_column') }} >= {{ start }};
                    insert into {{ table_relation }} {{ sql }}
                {%- else %}
                    select 'nothing in this batch' as refresh
                {%- endif %}
            {%- endcall %}
        {%- endif %}
        {%- set target_relation = table_relation -%}
    {%- endif %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {% do apply_grants(target_relation, config.get('grants'), should_revoke(existing_relation, full_refresh_mode=rebuild)) %}
    {#- TimescaleDB presents a continuous aggregate as a view in the catalog: comment on it as one. -#}
    {% do persist_docs(target_relation.incorporate(type='view') if timescaledb else target_relation, model) %}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
