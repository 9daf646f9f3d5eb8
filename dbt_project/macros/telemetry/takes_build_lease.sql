{% macro takes_build_lease() -%}
    {#- Whether this dbt command holds the build lease: the commands that write (build, run, seed,
        snapshot); `dbt test`, `compile` and `docs generate` do not. -#}
    {{ return(execute and flags.WHICH in ['build', 'run', 'seed', 'snapshot']) }}
{%- endmacro %}
