{% macro disable_jit() -%}
    {#- Pre-hook of every model: turn PostgreSQL's JIT compiler off for dbt's session. The planner
        cannot know how small an incremental batch is, so its cost estimates pass jit_above_cost and
        compiling took ~1.2 s for a query that then ran in 16 ms (int_battery_samples, +1 day). Tests
        that run on the same connection afterwards benefit too. Only this session is affected. -#}
    set jit = off
{%- endmacro %}
