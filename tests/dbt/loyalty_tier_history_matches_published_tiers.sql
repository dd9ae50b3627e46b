-- The history's rows for this run's as-of date are exactly the published tiers: same
-- customers, spend, count and tier. The history computes them itself (so a backfill never
-- touches the published table); this pins the two computations together.
{%- set window = loyalty_qualifying_window() %}

with

history as (

    select
        customer_id,
        total_spent,
        transaction_count,
        loyalty_tier,
        tier_rank
    from {{ ref('loyalty_tier_history') }}
    where as_of_date = {{ window.end }}

),

published as (

    select
        customer_id,
        total_spent,
        transaction_count,
        loyalty_tier,
        tier_rank
    from {{ ref('customer_loyalty_tiers') }}

)

select
    history.loyalty_tier as history_tier,
    published.loyalty_tier as published_tier,
    coalesce(history.customer_id, published.customer_id) as customer_id
from history
full outer join published
    on history.customer_id = published.customer_id
where
    history.customer_id is null
    or published.customer_id is null
    or history.total_spent != published.total_spent
    or history.transaction_count != published.transaction_count
    or history.loyalty_tier != published.loyalty_tier
    or history.tier_rank != published.tier_rank
