-- From -> to migration matrix between the previous as-of date in the history and this one: one
-- row per (previous tier, new tier) pair that occurs, with its customers. New customers have no
-- previous tier, removed customers no new tier (see loyalty_tier_movements).

with

movements as (

    select
        as_of_date,
        previous_as_of_date,
        previous_tier,
        previous_tier_rank,
        loyalty_tier,
        tier_rank,
        movement
    from {{ ref('loyalty_tier_movements') }}

),

final as (

    select
        as_of_date,
        previous_as_of_date,
        previous_tier,
        previous_tier_rank,
        loyalty_tier,
        tier_rank,
        movement,
        count(*) as customers
    from movements
    group by
        as_of_date,
        previous_as_of_date,
        previous_tier,
        previous_tier_rank,
        loyalty_tier,
        tier_rank,
        movement

)

select * from final
