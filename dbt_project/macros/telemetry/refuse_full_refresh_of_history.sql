{% macro refuse_full_refresh_of_history() -%}
    {#- Pre-hook for tables that hold history which cannot be rebuilt from raw cheaply (or at all, once
        raw is pruned): `--full-refresh` would drop the table and everything built on it. -#}
    {%- if flags.FULL_REFRESH and not var('allow_full_refresh_of_history') -%}
        {{ exceptions.raise_compiler_error(
            "Refusing --full-refresh of " ~ this ~ ": it would drop all telemetry history and the "
            ~ "continuous aggregates built on it. To rebuild on purpose, run: dbt build --full-refresh "
            ~ "--vars '{allow_full_refresh_of_history: true}'. To rebuild without it, exclude the "
            ~ "model: dbt build --full-refresh --exclude " ~ this.identifier) }}
    {%- endif -%}
    select 'full refresh guard passed' as refuse_full_refresh_of_history
{%- endmacro %}
