{#-
    The tier rule, fed by the `tier_thresholds` seed (analysts edit the CSV, never this SQL).

    Returns a select of (customer key, loyalty_tier, tier_rank): one row per customer of
    `customers`. A customer gets the highest-ranked tier whose spend AND count minimums are both
    met (inclusive). The lowest-ranked tier is the catch-all: it applies to everyone else,
    including customers with zero or negative spend, whatever its own minimums say.
    The seed is joined in SQL via ref(), so lineage shows seed -> tiers and no threshold value is
    ever pasted into SQL text. `thresholds` swaps in another relation with the seed's columns:
    only the what-if command does that, to try proposed thresholds without loading them.
-#}
{#- Not dispatched: the same SQL means the same on Spark and Databricks (ANSI or not). -#}
{% macro assign_loyalty_tier(
    customers,
    customer_key='customer_id',
    total_spent='total_spent',
    transaction_count='transaction_count',
    thresholds=none
) %}
    select
        ranked.{{ customer_key }},
        ranked.tier_name as loyalty_tier,
        ranked.tier_rank
    from (
        select
            candidates.{{ customer_key }},
            thresholds.tier_name,
            thresholds.tier_rank,
            row_number() over (
                partition by candidates.{{ customer_key }}
                order by thresholds.tier_rank desc
            ) as tier_preference
        from {{ customers }} as candidates
        inner join (
            select
                tier_name,
                tier_rank,
                min_total_spent,
                min_transaction_count,
                tier_rank = min(tier_rank) over () as is_catch_all
            from {{ thresholds if thresholds else ref('tier_thresholds') }}
        ) as thresholds
            on (
                candidates.{{ total_spent }} >= thresholds.min_total_spent
                and candidates.{{ transaction_count }} >= thresholds.min_transaction_count
            )
            or thresholds.is_catch_all
    ) as ranked
    where ranked.tier_preference = 1
{% endmacro %}
