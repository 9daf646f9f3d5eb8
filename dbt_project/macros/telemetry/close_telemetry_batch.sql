{% macro close_telemetry_batch(results) -%}
    {#-
        on-run-end: the one place a build's telemetry batch is closed in raw.admission_ledger.
        stg_raw__telemetry_pieces opens the batch (batch_id = this invocation, its pre-hook
        admit_telemetry_batch); the models after it read it, directly or through the
        models they read. The batch is marked transformed only when the ledger and every model
        downstream of it (found in the graph, so a new model is covered without being listed)
        succeeded in this invocation; otherwise it stays pending and the next build takes it up again.
    -#}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set ledger = 'model.' ~ project_name ~ '.stg_raw__telemetry_pieces' -%}
    {%- set succeeded = [] -%}
    {%- for result in results if result.status == 'success' -%}
        {%- do succeeded.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- if ledger not in succeeded -%}
        {{ return('') }}
    {%- endif -%}
    {%- set downstream = [ledger] -%}
    {%- for _ in range(graph.nodes | length) -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.unique_id not in downstream
            and node.depends_on.nodes | select('in', downstream) | list -%}
            {%- do downstream.append(node.unique_id) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set unfinished = [] -%}
    {%- for unique_id in downstream
        if graph.nodes[unique_id].config.materialized != 'ephemeral' and unique_id not in succeeded -%}
        {%- do unfinished.append(graph.nodes[unique_id].name) -%}
    {%- endfor -%}
    {%- if unfinished -%}
        {%- do log("Telemetry batch left pending for the next build: " ~ unfinished | join(', ')
                   ~ " did not run or did not succeed.", info=true) -%}
        {{ return('') }}
    {%- endif -%}
    {#- A hook cannot call source(): the ledger's relation (raw.admission_ledger) comes from the graph. -#}
    {%- set ledger_source = graph.sources['source.' ~ project_name ~ '.raw.admission_ledger'] -%}
    update {{ api.Relation.create(database=ledger_source.database, schema=ledger_source.schema,
                                  identifier=ledger_source.identifier) }}
    set transformed_at = now()
    where batch_id = '{{ invocation_id }}'
        and transformed_at is null
{%- endmacro %}
