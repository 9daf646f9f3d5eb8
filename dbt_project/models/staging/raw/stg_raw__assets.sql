{#- One row per device per assets response page, as listed (GET /assets). -#}

with

responses as (
    select
        response_id,
        load_id,
        loaded_at,
        payload
    from {{ source('raw', 'assets_responses') }}
),

items as (
    select
        responses.response_id,
        responses.load_id,
        responses.loaded_at,
        listed.item,
        listed.item_index
    from responses
    cross join lateral jsonb_array_elements(responses.payload -> 'items') with ordinality as listed (item, item_index)
),

final as (
    select
        response_id,
        item_index,
        load_id,
        loaded_at,
        case
            when (item ->> 'deviceId') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then (item ->> 'deviceId')::uuid
        end as device_id,
        item ->> 'description' as device_name,
        item ->> 'state' as device_state
    from items
)

select * from final
