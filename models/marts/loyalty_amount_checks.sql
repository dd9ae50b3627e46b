-- How the amounts of the qualifying transactions looked: NULLs (and what the policy did with
-- them), refunds and zero amounts. One row per check, zero included, for the run summary and BI.
{%- set window = loyalty_qualifying_window() %}

with

transactions as (

    select
        amount,
        amount_treatment
    from {{ ref('int_transactions_qualified') }}
    where is_qualifying

),

checks as (

    select check_name
    from
        values
        ('null_amount_imputed'),
        ('null_amount_not_imputed'),
        ('null_amount_zero_filled'),
        ('negative_amount'),
        ('zero_amount') as checks (check_name)

),

flagged as (

    select
        case
            when amount_treatment = 'imputed_same_day_avg' then 'null_amount_imputed'
            when amount_treatment = 'missing' then 'null_amount_not_imputed'
            when amount_treatment = 'zero_filled' then 'null_amount_zero_filled'
            when amount < 0 then 'negative_amount'
            when amount = 0 then 'zero_amount'
        end as check_name
    from transactions

),

counted as (

    select
        check_name,
        count(*) as transaction_count
    from flagged
    where check_name is not null
    group by check_name

),

final as (

    select
        checks.check_name,
        cast(coalesce(counted.transaction_count, 0) as bigint) as transaction_count,
        {{ window.end }} as as_of_date
    from checks
    left join counted
        on checks.check_name = counted.check_name

)

select * from final
