{% macro refuse_overlapping_build() -%}
    {#- on-run-start: stop, before anything changes, a build that would overlap another one (two
        overlapping builds both fail midway on the relations they both create). Two guards:
        - the build lock `loader build` holds for its whole run: the session advisory lock
          var('build_lock_key'); the `loader build` that holds it tells its own dbt the holding
          session in env LOADER_BUILD_LOCK_HOLDER;
        - the build lease, for plain `dbt build`s: dbt closes its connections between nodes, so no
          session lives as long as a build and no session lock can stand for it. The first build takes
          the one row of dbt_build_lease (build_lease_relation) in one atomic upsert and renews it
          before every model (renew_build_lease); a second finds it taken and stops. A lease not
          renewed for var('build_lease_timeout') is a dead build's (killed, machine lost) and is taken
          over; so is one a `loader build` left behind, by the next `loader build`, since that one
          holds the build lock. on-run-end gives it back (release_build_lease).
        Only commands that write take the lease (takes_build_lease). -#}
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
        {%- if takes_build_lease() -%}
            {%- set by_loader = ours != '' -%}
            {%- do run_query(create_build_lease()) -%}
            {%- set taken = run_query(take_build_lease(by_loader)) -%}
            {%- if taken.rows | length == 0 -%}
                {%- set holder = run_query(
                    "select command, started_at, renewed_at from " ~ build_lease_relation()
                ).rows[0] -%}
                {{ exceptions.raise_compiler_error(
                    "Another `dbt " ~ holder[0] ~ "` is running against this database (started "
                    ~ holder[1] ~ ", last seen " ~ holder[2] ~ "); this one stopped before changing"
                    ~ " anything. Run it again when that one has finished, or schedule builds with"
                    ~ " `loader build --wait`."
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
