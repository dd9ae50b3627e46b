-- Transactions that did not count toward any tier, by reason: one row per reason, zero
-- included, so a dashboard (and the run summary) always shows every reason.
{%- set window = loyalty_qualifying_window() %}

with

transactions as (

    select exclusion_reason
    from {{ ref('int_transactions_qualified') }}
    where exclusion_reason is not null

),

reasons as (

    select reason
    from
        values
        ('missing_customer_id'),
        ('missing_transaction_date'),
        ('after_as_of_date'),
        ('before_qualifying_window'),
        ('missing_amount') as reasons (reason)

),

counted as (

    select
        exclusion_reason,
        count(*) as transaction_count
    from transactions
    group by exclusion_reason

),

final as (

    select
        reasons.reason as exclusion_reason,
        cast(coalesce(counted.transaction_count, 0) as bigint) as transaction_count,
        {{ window.end }} as as_of_date
    from reasons
    left join counted
        on reasons.reason = counted.exclusion_reason

)

select * from final
