-- Exercises the tier macro directly against the live seed: for every tier above the catch-all,
-- a customer exactly at its minimums gets that tier (or a higher one sharing the same minimums),
-- while one cent below or one transaction below gets a lower-ranked tier. Returns the customers
-- that got it wrong.
with

thresholds as (

    select
        tiers.tier_name,
        tiers.tier_rank,
        tiers.min_total_spent,
        tiers.min_transaction_count
    from {{ ref('tier_thresholds') }} as tiers
    where tiers.tier_rank > (
        select min(all_tiers.tier_rank) from {{ ref('tier_thresholds') }} as all_tiers
    )

),

probes as (

    select
        concat(tier_name, ' exactly at') as customer_id,
        min_total_spent as total_spent,
        cast(min_transaction_count as bigint) as transaction_count,
        tier_rank as expected_rank,
        '>=' as expectation
    from thresholds
    union all
    select
        concat(tier_name, ' one cent below') as customer_id,
        min_total_spent - 0.01 as total_spent,
        cast(min_transaction_count as bigint) as transaction_count,
        tier_rank as expected_rank,
        '<' as expectation
    from thresholds
    union all
    select
        concat(tier_name, ' one transaction below') as customer_id,
        min_total_spent as total_spent,
        cast(min_transaction_count - 1 as bigint) as transaction_count,
        tier_rank as expected_rank,
        '<' as expectation
    from thresholds
    where min_transaction_count > 0

),

assigned as (

    {{ assign_loyalty_tier('probes') }}

)

select
    probes.customer_id,
    probes.expectation,
    probes.expected_rank,
    assigned.tier_rank as assigned_rank
from probes
left join assigned
    on probes.customer_id = assigned.customer_id
where
    assigned.tier_rank is null
    or (probes.expectation = '>=' and assigned.tier_rank < probes.expected_rank)
    or (probes.expectation = '<' and assigned.tier_rank >= probes.expected_rank)
