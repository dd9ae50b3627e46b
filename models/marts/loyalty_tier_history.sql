-- Tier history: the tiers of every as-of date ever built, one row per (as_of_date, customer_id).
-- Incremental, partitioned by as_of_date: a run replaces its own as-of date's partition and
-- leaves every other date alone (insert_overwrite with dynamic partition overwrite on local
-- Spark, replace_where on Databricks SQL), so re-running a date never duplicates rows.
-- Tiers come from the same aggregation and the same tier macro as customer_loyalty_tiers, not
-- from that table, so `loyalty backfill` can rebuild past dates without touching what is
-- published; the test loyalty_tier_history_matches_published_tiers pins the two together.
{%- set as_of = loyalty_qualifying_window().end %}
{{ config(incremental_predicates=['as_of_date = ' ~ as_of]) }}

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

    -- as_of_date last: the partition column comes last in a partitioned Spark table
    select
        customers.customer_id,
        customers.total_spent,
        customers.transaction_count,
        tiers.loyalty_tier,
        cast(tiers.tier_rank as int) as tier_rank,
        customers.qualifying_start_date,
        customers.as_of_date
    from customers
    inner join tiers
        on customers.customer_id = tiers.customer_id

)

select * from final
