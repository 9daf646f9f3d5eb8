{% macro load_is_interrupted(load_log) -%}
    {#- Whether a load_log row says 'running' although no session holds its loader's advisory lock:
        the loader died. The rule and the key are loader/load_liveness.py's (LOAD_IS_INTERRUPTED_SQL);
        on the embedded server a dead loader's lock outlives it, and the next load marks the row. -#}
    ({{ load_log }}.status = 'running' and not exists (
        select 1 from pg_locks as lock
        where lock.locktype = 'advisory' and lock.granted and lock.objsubid = 2
            and lock.classid::bigint = {{ var('load_lock_class') }}
            and lock.objid::bigint
                = (('x' || left(replace({{ load_log }}.load_id::text, '-', ''), 8))::bit(32)::integer & 2147483647)
    ))
{%- endmacro %}
