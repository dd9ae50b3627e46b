-- Seed rule: exactly one catch-all tier, the lowest rank, with minimums 0 and 0 (so "everyone
-- else" is explicit in the CSV). Returns one row describing the problem, or nothing.
with

thresholds as (

    select
        tier_name,
        tier_rank,
        min_total_spent = 0 and min_transaction_count = 0 as is_zero_minimum,
        tier_rank = min(tier_rank) over () as is_lowest_rank
    from {{ ref('tier_thresholds') }}

),

summary as (

    select
        count(*) as tier_count,
        sum(case when is_zero_minimum then 1 else 0 end) as zero_minimum_tiers,
        sum(case when is_zero_minimum and is_lowest_rank then 1 else 0 end) as lowest_zero_tiers
    from thresholds

)

select
    tier_count,
    zero_minimum_tiers,
    'need exactly one catch-all tier: the lowest rank with minimums 0 and 0' as broken_rule
from summary
where tier_count = 0 or zero_minimum_tiers != 1 or lowest_zero_tiers != 1
