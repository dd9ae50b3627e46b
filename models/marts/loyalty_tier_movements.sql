-- Tier movements: every customer's tier on the as-of date against their tier on the previous
-- as-of date in the history (the latest earlier date, whatever the gap). One row per customer
-- present on either date. The feed for "tier change" notifications: filter movement != 'same'.
{%- set as_of = loyalty_qualifying_window().end %}

with

history as (

    select
        as_of_date,
        customer_id,
        loyalty_tier,
        tier_rank
    from {{ ref('loyalty_tier_history') }}

),

current_tiers as (

    select
        customer_id,
        loyalty_tier,
        tier_rank
    from history
    where as_of_date = {{ as_of }}

),

previous_date as (

    select max(as_of_date) as previous_as_of_date
    from history
    where as_of_date < {{ as_of }}

),

previous_tiers as (

    select
        history.customer_id,
        history.loyalty_tier,
        history.tier_rank
    from history
    inner join previous_date
        on history.as_of_date = previous_date.previous_as_of_date

),

compared as (

    select
        current_tiers.loyalty_tier,
        current_tiers.tier_rank,
        previous_tiers.loyalty_tier as previous_tier,
        previous_tiers.tier_rank as previous_tier_rank,
        coalesce(current_tiers.customer_id, previous_tiers.customer_id) as customer_id
    from current_tiers
    full outer join previous_tiers
        on current_tiers.customer_id = previous_tiers.customer_id

),

final as (

    select
        compared.customer_id,
        {{ as_of }} as as_of_date,
        previous_date.previous_as_of_date,
        compared.previous_tier,
        compared.previous_tier_rank,
        compared.loyalty_tier,
        compared.tier_rank,
        case
            when compared.tier_rank is null then 'removed'
            when compared.previous_tier_rank is null then 'new'
            when compared.tier_rank > compared.previous_tier_rank then 'upgrade'
            when compared.tier_rank < compared.previous_tier_rank then 'downgrade'
            else 'same'
        end as movement
    from compared
    cross join previous_date

)

select * from final
