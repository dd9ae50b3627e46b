-- Seed rule: a higher-ranked tier never asks for less spend or fewer transactions than a
-- lower-ranked one (otherwise "highest matching tier wins" would skip tiers unpredictably).
select
    higher_tier.tier_name,
    higher_tier.tier_rank,
    'thresholds must not decrease with rank (vs ' || lower_tier.tier_name || ')' as broken_rule
from {{ ref('tier_thresholds') }} as higher_tier
inner join {{ ref('tier_thresholds') }} as lower_tier
    on higher_tier.tier_rank > lower_tier.tier_rank
where
    higher_tier.min_total_spent < lower_tier.min_total_spent
    or higher_tier.min_transaction_count < lower_tier.min_transaction_count
