{% macro mark_telemetry_batch_transformed() -%}
    {#- Close this run's batch in the admission ledger (stg_raw__telemetry_pieces) once every model
        that reads the batch has been built. Runs as the post-hook of the last of them. -#}
    update {{ ref('stg_raw__telemetry_pieces') }}
    set transformed_at = now()
    where batch_id = '{{ invocation_id }}'
        and transformed_at is null
{%- endmacro %}
