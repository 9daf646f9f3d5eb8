{% macro refuse_overlapping_build() -%}
    {#- on-run-start: stop, before anything changes, a build that would overlap the one `loader build`
        runs (two overlapping builds both fail midway on the relations they both create). The build
        lock is the session advisory lock var('build_lock_key'); the `loader build` that holds it tells
        its own dbt the holding session in env LOADER_BUILD_LOCK_HOLDER. On the embedded database,
        whose clients share one session, `loader build` uses a file lock instead and this finds none. -#}
    {%- if execute -%}
        {%- set holders = run_query(
            "select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1"
            ~ " and classid = 0 and objid::bigint = " ~ (var('build_lock_key') | int)
        ) -%}
        {%- set ours = env_var('LOADER_BUILD_LOCK_HOLDER', '') -%}
        {%- for holder in holders.rows if (holder[0] | string) != ours -%}
            {{ exceptions.raise_compiler_error(
                "Another build is running against this database (`loader build`, database session "
                ~ holder[0] ~ "); this one stopped before changing anything. Schedule builds with"
                ~ " `loader build`, which exits with code 6 (or waits, --wait) instead."
            ) }}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
