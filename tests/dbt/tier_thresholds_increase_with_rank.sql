-- Seed rule: a higher-ranked tier never asks for less spend or fewer transactions than a
-- lower-ranked one (otherwise "highest matching tier wins" would skip tiers unpredictably).
select
    higher.tier_name,
    higher.tier_rank,
    'thresholds must not decrease with rank (vs ' || lower.tier_name || ')' as broken_rule
from {{ ref('tier_thresholds') }} as higher
inner join {{ ref('tier_thresholds') }} as lower
    on higher.tier_rank > lower.tier_rank
where
    higher.min_total_spent < lower.min_total_spent
    or higher.min_transaction_count < lower.min_transaction_count
