{% macro close_telemetry_batch(results) -%}
    {#-
        on-run-end: the one place a build's telemetry batch is closed. stg_raw__telemetry_pieces opens
        the batch (batch_id = this invocation); every model that reads stg_raw__telemetry_points reads
        it. The batch is marked transformed only when the ledger and every one of those readers (found
        in the graph, so a new model is covered without being listed) succeeded in this invocation;
        otherwise it stays pending and the next build takes it up again.
    -#}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set ledger = 'model.' ~ project_name ~ '.stg_raw__telemetry_pieces' -%}
    {%- set batch_points = 'model.' ~ project_name ~ '.stg_raw__telemetry_points' -%}
    {%- set succeeded = [] -%}
    {%- for result in results if result.status == 'success' -%}
        {%- do succeeded.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- if ledger not in succeeded -%}
        {{ return('') }}
    {%- endif -%}
    {%- set unfinished = [] -%}
    {%- for node in graph.nodes.values() if batch_points in node.depends_on.nodes and node.unique_id not in succeeded -%}
        {%- do unfinished.append(node.name) -%}
    {%- endfor -%}
    {%- if unfinished -%}
        {%- do log("Telemetry batch left pending for the next build: " ~ unfinished | join(', ')
                   ~ " did not run or did not succeed.", info=true) -%}
        {{ return('') }}
    {%- endif -%}
    {#- A hook cannot ref() a model: the ledger's relation comes from the graph. -#}
    {%- set ledger_node = graph.nodes[ledger] -%}
    update {{ api.Relation.create(database=ledger_node.database, schema=ledger_node.schema,
                                  identifier=ledger_node.alias) }}
    set transformed_at = now()
    where batch_id = '{{ invocation_id }}'
        and transformed_at is null
{%- endmacro %}
