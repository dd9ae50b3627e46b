-- Seed rule: no tier asks for a negative spend or transaction count. Returns offending rows.
select
    tier_name,
    tier_rank,
    'minimums must be >= 0' as broken_rule
from {{ ref('tier_thresholds') }}
where min_total_spent < 0 or min_transaction_count < 0
