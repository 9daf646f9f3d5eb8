{{ config(pre_hook=["{{ admit_telemetry_batch() }}"]) }}

{#-
    The admission ledger: which raw pieces this run transforms (its batch), and which earlier ones
    are done. The ledger is raw.admission_ledger (created by the loader's migrations, written by dbt
    alone): this model's pre-hook admit_telemetry_batch admits what landed since the last build and
    takes up what a failed build left pending; the close_telemetry_batch on-run-end hook closes the
    batch. A view, so that reading it is reading the ledger.
-#}

with

ledger as (
    select
        piece_id,
        load_id,
        loaded_at,
        source_uri,
        device_id,
        metric_name,
        point_count,
        batch_id,
        transformed_at
    from {{ source('raw', 'admission_ledger') }}
),

final as (
    select * from ledger
)

select * from final
