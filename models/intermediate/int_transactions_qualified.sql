-- Every staged transaction, classified against the qualifying window and the NULL-amount
-- policy: why it does not count (exclusion_reason), and the amount it adds to spend.
{%- set window = loyalty_qualifying_window() %}
{%- set policy = loyalty_null_amount_policy() %}
{#- The policy as SQL booleans, so the SQL reads (and lints) the same under every policy. #}
{%- set excludes_missing = 'true' if policy == 'exclude' else 'false' %}
{%- set imputes_missing = 'true' if policy == 'impute_same_day_avg' else 'false' %}
{%- set zero_fills_missing = 'true' if policy == 'zero' else 'false' %}

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
            when {{ excludes_missing }} and amount is null then 'missing_amount'
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

treated as (

    select
        *,
        case
            when exclusion_reason is not null then null
            when amount is not null then 'recorded'
            when {{ imputes_missing }} and same_day_amount_count > 0 then 'imputed_same_day_avg'
            when {{ zero_fills_missing }} then 'zero_filled'
            else 'missing'
        end as amount_treatment
    from same_day

),

final as (

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount,
        exclusion_reason,
        amount_treatment,
        -- exact decimal division, rounded half-up to cents; guarded, so ANSI mode never
        -- sees a division by zero
        cast(
            case amount_treatment
                when 'recorded' then amount
                when 'imputed_same_day_avg'
                    then round(
                        same_day_amount_sum / cast(same_day_amount_count as decimal(20, 0)), 2
                    )
                when 'zero_filled' then 0
            end as decimal(10, 2)
        ) as amount_effective,
        exclusion_reason is null as is_qualifying
    from treated

)

select * from final
