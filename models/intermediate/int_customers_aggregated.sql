-- One row per customer known on the as-of date: spend and transaction count over the
-- qualifying window. Customers with no qualifying transaction get zero spend and count.
{%- set window = loyalty_qualifying_window() %}

with

transactions as (

    select
        customer_id,
        transaction_date,
        amount_effective,
        is_qualifying
    from {{ ref('int_transactions_qualified') }}

),

known_customers as (

    select customer_id
    from transactions
    where
        customer_id is not null
        and transaction_date <= {{ window.end }}
    group by customer_id

),

qualifying_totals as (

    select
        customer_id,
        sum(amount_effective) as total_spent,
        count(*) as transaction_count,
        min(transaction_date) as first_qualifying_date,
        max(transaction_date) as last_qualifying_date
    from transactions
    where is_qualifying
    group by customer_id

),

final as (

    select
        known_customers.customer_id,
        cast(coalesce(qualifying_totals.total_spent, 0) as decimal(20, 2)) as total_spent,
        cast(coalesce(qualifying_totals.transaction_count, 0) as bigint) as transaction_count,
        qualifying_totals.first_qualifying_date,
        qualifying_totals.last_qualifying_date,
        {{ window.start }} as qualifying_start_date,
        {{ window.end }} as as_of_date
    from known_customers
    left join qualifying_totals
        on known_customers.customer_id = qualifying_totals.customer_id

)

select * from final
