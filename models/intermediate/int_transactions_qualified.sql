-- Every staged transaction, classified against the qualifying window and the NULL-amount
-- policy: why it does not count (exclusion_reason), and the amount it adds to spend.
{%- set window = loyalty_qualifying_window() %}
{%- set policy = loyalty_null_amount_policy() %}

with

transactions as (

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount
    from {{ ref('stg_mysql__transactions') }}

),

classified as (

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount,
        case
            when customer_id is null then 'missing_customer_id'
            when transaction_date is null then 'missing_transaction_date'
            when transaction_date > {{ window.end }} then 'after_as_of_date'
            when transaction_date < {{ window.start }} then 'before_qualifying_window'
            {%- if policy == 'exclude' %}
            when amount is null then 'missing_amount'
            {%- endif %}
        end as exclusion_reason
    from transactions

),

-- Same customer, same day: the basis of the impute_same_day_avg policy. A day lies wholly
-- inside or outside the window, so the partition never mixes counted and uncounted rows.
same_day as (

    select
        *,
        sum(amount) over (partition by customer_id, transaction_date) as same_day_amount_sum,
        count(amount) over (partition by customer_id, transaction_date) as same_day_amount_count
    from classified

),

final as (

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount,
        exclusion_reason,
        exclusion_reason is null as is_qualifying,
        case
            when exclusion_reason is not null then null
            when amount is not null then 'recorded'
            {%- if policy == 'impute_same_day_avg' %}
            when same_day_amount_count > 0 then 'imputed_same_day_avg'
            else 'missing'
            {%- elif policy == 'zero' %}
            else 'zero_filled'
            {%- endif %}
        end as amount_treatment,
        cast(
            case
                when exclusion_reason is not null then null
                when amount is not null then amount
                {%- if policy == 'impute_same_day_avg' %}
                when same_day_amount_count > 0
                    then round(same_day_amount_sum / cast(same_day_amount_count as decimal(20, 0)), 2)
                {%- elif policy == 'zero' %}
                else cast(0 as decimal(10, 2))
                {%- endif %}
            end
            as decimal(10, 2)
        ) as amount_effective
    from same_day

)

select * from final
