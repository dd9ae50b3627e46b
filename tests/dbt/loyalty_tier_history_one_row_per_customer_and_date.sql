-- History is keyed by (as_of_date, customer_id): re-running an as-of date must replace that
-- date's rows, never add a second copy. Returns every duplicated key.
select
    as_of_date,
    customer_id,
    count(*) as copies
from {{ ref('loyalty_tier_history') }}
group by as_of_date, customer_id
having count(*) > 1
