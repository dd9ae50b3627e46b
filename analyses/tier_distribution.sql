-- Customers and spend per tier for the current build, highest tier first. Compile with
-- `dbt compile --select tier_distribution` and run the SQL in your notebook or BI tool.

with

tiers as (

    select
        loyalty_tier,
        tier_rank,
        total_spent
    from {{ ref('customer_loyalty_tiers') }}

),

final as (

    select
        loyalty_tier,
        tier_rank,
        count(*) as customers,
        sum(total_spent) as total_spent,
        round(100.0 * count(*) / sum(count(*)) over (), 1) as customer_share_pct
    from tiers
    group by loyalty_tier, tier_rank

)

select * from final
order by tier_rank desc
