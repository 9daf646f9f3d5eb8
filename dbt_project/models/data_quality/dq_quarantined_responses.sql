{{ config(materialized='view') }}
{#-
    Every input the loader could not land as it was, for analysts (who never read raw): when, from
    where, why and what became of it, without the kept bytes. A view: it costs a build nothing and
    reads the quarantine through its time index when filtered by time.
-#}

with

quarantine as (
    select * from {{ ref('stg_raw__quarantine') }}
),

final as (
    select
        quarantine_id,
        load_id,
        quarantined_at,
        source_uri,
        series_index,
        disposition,
        reason,
        size_bytes
    from quarantine
)

select * from final
