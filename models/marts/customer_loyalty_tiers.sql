-- The published tiers: one row per customer, tier from the tier_thresholds seed, and why this
-- tier (the next tier up, what is still needed on each dimension, the margin above the minimums).

with

customers as (

    select
        customer_id,
        total_spent,
        transaction_count,
        qualifying_start_date,
        as_of_date
    from {{ ref('int_customers_aggregated') }}

),

tiers as (

    {{ assign_loyalty_tier('customers') }}

),

tiered as (

    select
        customers.customer_id,
        customers.total_spent,
        customers.transaction_count,
        tiers.loyalty_tier,
        cast(tiers.tier_rank as int) as tier_rank,
        customers.as_of_date,
        customers.qualifying_start_date
    from customers
    inner join tiers
        on customers.customer_id = tiers.customer_id

),

progress as (

    {{ loyalty_tier_progress('tiered') }}

),

final as (

    select
        tiered.customer_id,
        tiered.total_spent,
        tiered.transaction_count,
        tiered.loyalty_tier,
        tiered.tier_rank,
        tiered.as_of_date,
        tiered.qualifying_start_date,
        progress.next_tier,
        progress.spend_to_next_tier,
        progress.transactions_to_next_tier,
        progress.spend_above_tier_minimum,
        progress.transactions_above_tier_minimum
    from tiered
    inner join progress
        on tiered.customer_id = progress.customer_id

)

select * from final
