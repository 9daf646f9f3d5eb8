{% macro load_is_interrupted(load_log) -%}
    {#- Whether a load_log row says 'running' although no session holds its loader's advisory lock:
        the loader died. The lock's rule is the raw schema's function load_lock_is_held, which the
        loader asks too (loader/load_liveness.py); on the embedded server a dead loader's lock
        outlives it, and the next load marks the row. -#}
    ({{ load_log }}.status = 'running'
        and not {{ var('raw_schema') }}.load_lock_is_held(
            {{ load_log }}.load_id, {{ var('load_lock_class') }}
        ))
{%- endmacro %}
