{% macro admit_telemetry_batch() -%}
    {#-
        Pre-hook of stg_raw__telemetry_pieces: this build's batch (batch_id = its invocation id) in
        raw.admission_ledger. A piece counts as new if the ledger lacks it and it was loaded no earlier
        than `late_commit_allowance` before the newest admitted piece (so a load that commits late is
        still admitted); pieces a failed build left pending join the batch too. Compacted pieces are
        never admitted: compaction merges transformed pieces only. A full refresh takes up every raw
        piece again, compacted ones included: the way to reprocess everything.
    -#}
    {%- set ledger = source('raw', 'admission_ledger') -%}
    {%- set pieces = source('raw', 'telemetry_pieces') -%}
    {%- set columns = 'piece_id, load_id, loaded_at, source_uri, device_id, metric_name, point_count' -%}
    {%- set this_table = load_relation(this) if execute else none -%}
    {%- if this_table is not none and this_table.is_table %}
    -- Once, on upgrade: the ledger dbt kept as this model's table before it moved to raw.
    insert into {{ ledger }} ({{ columns }}, batch_id, transformed_at)
    select {{ columns }}, batch_id, transformed_at from {{ this_table }} as kept
    where exists (select 1 from {{ pieces }} as pieces where pieces.piece_id = kept.piece_id)
    on conflict (piece_id) do nothing;
    {%- endif %}
    {%- if should_full_refresh() %}
    insert into {{ ledger }} ({{ columns }}, batch_id)
    select {{ columns }}, '{{ invocation_id }}' from {{ pieces }}
    on conflict (piece_id) do update set batch_id = excluded.batch_id, transformed_at = null;
    {%- else %}
    update {{ ledger }} set batch_id = '{{ invocation_id }}' where transformed_at is null;
    insert into {{ ledger }} ({{ columns }}, batch_id)
    select {{ columns }}, '{{ invocation_id }}' from {{ pieces }} as pieces
    where
        pieces.compacted_at is null
        and pieces.loaded_at > coalesce(
            (select max(loaded_at) from {{ ledger }}) - interval '{{ var("late_commit_allowance") }}',
            '-infinity'
        )
    on conflict (piece_id) do nothing;
    {%- endif %}
{%- endmacro %}
