{{ config(contract={'enforced': true}) }}

{#- One row per device ever listed by the assets endpoint, as the latest listing describes it. -#}

with

listings as (
    select
        device_id,
        device_name,
        device_state,
        loaded_at
    from {{ ref('stg_raw__assets') }}
    where device_id is not null
),

latest_listing as (
    select distinct on (device_id)
        device_id,
        device_name,
        device_state,
        loaded_at as last_listed_at
    from listings
    order by device_id asc, loaded_at desc
),

first_listing as (
    select
        device_id,
        min(loaded_at) as first_listed_at
    from listings
    group by device_id
),

final as (
    select
        latest_listing.device_id,
        latest_listing.device_name,
        latest_listing.device_state,
        first_listing.first_listed_at,
        latest_listing.last_listed_at,
        latest_listing.device_state = 'Warning' as is_in_warning_state
    from latest_listing
    inner join first_listing on latest_listing.device_id = first_listing.device_id
)

select * from final
