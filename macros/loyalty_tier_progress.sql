{#-
    Why this tier: for customers that already have a tier, how far they are from the next tier
    up and how far above their own tier's minimums they are, on both dimensions (tiers need
    spend AND transactions). Computed from the same `tier_thresholds` seed as the tier itself,
    so a changed CSV changes the gaps too; no threshold value is pasted into SQL.

    Returns a select of (customer key, next_tier, spend_to_next_tier, transactions_to_next_tier,
    spend_above_tier_minimum, transactions_above_tier_minimum), one row per row of `customers`.
    The next tier is the one with the next higher rank; at the top tier the four "next" values
    are NULL. A gap is never negative: a dimension already met needs 0 more. The margin is
    `value - own tier's minimum`, which is negative only in the catch-all tier (negative spend).
-#}
{#- Not dispatched: the same SQL means the same on Spark and Databricks (ANSI or not). -#}
{% macro loyalty_tier_progress(
    customers,
    customer_key='customer_id',
    total_spent='total_spent',
    transaction_count='transaction_count',
    tier_rank='tier_rank',
    thresholds=none
) %}
    select
        progress.{{ customer_key }},
        ladder.next_tier_name as next_tier,
        cast(
            case
                when ladder.next_tier_name is not null
                    then greatest(ladder.next_min_total_spent - progress.{{ total_spent }}, 0)
            end as decimal(20, 2)
        ) as spend_to_next_tier,
        cast(
            case
                when ladder.next_tier_name is not null
                    then greatest(
                        ladder.next_min_transaction_count - progress.{{ transaction_count }}, 0
                    )
            end as bigint
        ) as transactions_to_next_tier,
        cast(
            progress.{{ total_spent }} - ladder.min_total_spent as decimal(20, 2)
        ) as spend_above_tier_minimum,
        cast(
            progress.{{ transaction_count }} - ladder.min_transaction_count as bigint
        ) as transactions_above_tier_minimum
    from {{ customers }} as progress
    inner join (
        select
            tier_rank,
            min_total_spent,
            min_transaction_count,
            lead(tier_name) over (order by tier_rank) as next_tier_name,
            lead(min_total_spent) over (order by tier_rank) as next_min_total_spent,
            lead(min_transaction_count) over (order by tier_rank) as next_min_transaction_count
        from {{ thresholds if thresholds else ref('tier_thresholds') }}
    ) as ladder
        on progress.{{ tier_rank }} = ladder.tier_rank
{% endmacro %}
