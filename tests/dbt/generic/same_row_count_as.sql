-- Fails (one row with both counts) when `model` and `compared_model` hold different numbers of
-- rows. Two counts, no shuffle: it replaces a `unique` test on a model that is a row-for-row
-- projection of an already-unique model (issue 5: each unique test over 10M rows was ~9 s).
{% test same_row_count_as(model, compared_model) %}

with

model_rows as (

    select count(*) as row_count
    from {{ model }}

),

compared_rows as (

    select count(*) as row_count
    from {{ compared_model }}

)

select
    model_rows.row_count as model_row_count,
    compared_rows.row_count as compared_row_count
from model_rows
cross join compared_rows
where model_rows.row_count != compared_rows.row_count

{% endtest %}
