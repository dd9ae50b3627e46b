-- The published tiers: one row per customer, tier from the tier_thresholds seed.

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

final as (

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

)

select * from final
