-- One row per transaction_id, from completed dlt loads only; the latest load wins.
-- Rename, cast, dedupe, flag: no business rules here (the window and NULL policies are in
-- intermediate/).

with

transactions as (

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount,
        _dlt_load_id
    from {{ source('mysql', 'transactions') }}

),

completed_loads as (

    select load_id
    from {{ source('mysql', '_dlt_loads') }}
    where status = 0

),

from_completed_loads as (

    select transactions.*
    from transactions
    left semi join completed_loads
        on transactions._dlt_load_id = completed_loads.load_id

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by transaction_id
            order by cast(_dlt_load_id as decimal(24, 7)) desc
        ) as delivery_recency
    from from_completed_loads

),

final as (

    select
        cast(transaction_id as bigint) as transaction_id,
        cast(customer_id as bigint) as customer_id,
        cast(transaction_date as date) as transaction_date,
        cast(amount as decimal(10, 2)) as amount,
        cast(_dlt_load_id as string) as dlt_load_id,
        customer_id is not null and transaction_date is not null as is_attributable
    from deduplicated
    where delivery_recency = 1

)

select * from final
