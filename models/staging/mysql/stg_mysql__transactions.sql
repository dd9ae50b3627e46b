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

-- The id range each load delivered. The MySQL primary key makes ids unique inside one load, so
-- an id can only be delivered twice by two loads whose ranges overlap (a re-extract after an
-- interrupted run, a reload). Incremental loads continue after the last id and never overlap.
load_ranges as (

    select
        _dlt_load_id,
        min(transaction_id) as first_id,
        max(transaction_id) as last_id
    from from_completed_loads
    group by _dlt_load_id

),

-- The id spans more than one load delivered: the only places a duplicate can be. Usually none,
-- and then no row goes through the dedupe window below (issue 5: ranking every row by id was
-- the slowest node of a build, ~18 s at 10M rows).
redelivered_spans as (

    select distinct
        greatest(earlier.first_id, later.first_id) as first_id,
        least(earlier.last_id, later.last_id) as last_id
    from load_ranges as earlier
    inner join load_ranges as later
        on
            earlier._dlt_load_id < later._dlt_load_id
            and earlier.first_id <= later.last_id
            and earlier.last_id >= later.first_id

),

delivered_once as (

    select from_completed_loads.*
    from from_completed_loads
    left anti join redelivered_spans
        on
            from_completed_loads.transaction_id
            between redelivered_spans.first_id and redelivered_spans.last_id

),

possibly_redelivered as (

    select from_completed_loads.*
    from from_completed_loads
    left semi join redelivered_spans
        on
            from_completed_loads.transaction_id
            between redelivered_spans.first_id and redelivered_spans.last_id

),

ranked_deliveries as (

    select
        *,
        row_number() over (
            partition by transaction_id
            order by cast(_dlt_load_id as decimal(24, 7)) desc
        ) as delivery_recency
    from possibly_redelivered

),

deduplicated as (

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount,
        _dlt_load_id
    from delivered_once

    union all

    select
        transaction_id,
        customer_id,
        transaction_date,
        amount,
        _dlt_load_id
    from ranked_deliveries
    where delivery_recency = 1

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

)

select * from final
